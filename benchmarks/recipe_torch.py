"""Try a training recipe on a PyTorch twin, fast, before porting it to a template config.

    .venv/bin/python benchmarks/recipe_torch.py FILE.npz [FILE.npz ...] --arch resnet \
        --width 0.5 --epochs 200 --batch 16 --lr 0.003 --schedule cosine --shift 0.1

FILE.npz holds x (N, L) or (N, C, L), y, x_test, y_test (the archive's official split). The loop
mirrors conv1d's Trainer: no validation split, the weights with the lowest epoch train loss are
the ones tested (``output.monitor: train_loss``), the learning rate follows the schedule per
step, augmentation is applied to each training batch. Prints one line per file: test accuracy of
the best-train-loss weights and of the last ones, and the training time. Development tool only:
choose recipes on a few development problems, never on the test split of the reported ones.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from templates_torch import ARCHITECTURES


def load(path: str, normalize: str) -> tuple[np.ndarray, ...]:
    d = np.load(path, allow_pickle=False)
    x, xt = (d[k].astype(np.float32) for k in ("x", "x_test"))
    if x.ndim == 2:
        x, xt = x[:, None, :], xt[:, None, :]
    names = sorted(set(d["y"].tolist()))
    y = np.array([names.index(v) for v in d["y"].tolist()])
    yt = np.array([names.index(v) for v in d["y_test"].tolist()])
    if normalize == "standardize":  # per channel, training-split statistics
        mean, std = x.mean(axis=(0, 2), keepdims=True), x.std(axis=(0, 2), keepdims=True) + 1e-8
        x, xt = (x - mean) / std, (xt - mean) / std
    elif normalize == "per_sample":  # each series z-normalized on its own
        x, xt = (
            (a - a.mean(axis=2, keepdims=True)) / (a.std(axis=2, keepdims=True) + 1e-8)
            for a in (x, xt)
        )
    return x, y, xt, yt, len(names)


def lr_at(step: int, total: int, args: argparse.Namespace) -> float:
    t = step / max(1, total)
    if args.schedule == "constant":
        return args.lr
    if args.schedule == "cosine":
        warm = args.warmup / max(1, args.epochs)
        if t < warm:
            return args.lr * t / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (t - warm) / (1 - warm)))
    if args.schedule == "onecycle":  # PyTorch's OneCycleLR (cosine annealing both ways)
        peak, start, end = args.lr, args.lr / 25, args.lr / 25 / 1e4
        if t < 0.3:
            return start + (peak - start) * 0.5 * (1 - math.cos(math.pi * t / 0.3))
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))
    raise ValueError(args.schedule)


def augment(x: np.ndarray, args: argparse.Namespace, rng: np.random.Generator) -> np.ndarray:
    n, c, length = x.shape
    if args.shift > 0:  # random shift of up to shift * L samples, zeros shifted in
        s = max(1, round(args.shift * length)) if args.shift < 1 else int(args.shift)
        padded = np.zeros((n, c, length + 2 * s), np.float32)
        padded[:, :, s : s + length] = x
        offsets = rng.integers(-s, s + 1, size=n)
        cols = (s - offsets)[:, None] + np.arange(length)[None, :]
        x = padded[np.arange(n)[:, None, None], np.arange(c)[None, :, None], cols[:, None, :]]
    if args.scale > 0:  # amplitude scaling, one factor per sample
        x = x * rng.uniform(1 - args.scale, 1 + args.scale, size=(n, 1, 1)).astype(np.float32)
    if args.noise > 0:
        x = x + rng.normal(0, args.noise, size=x.shape).astype(np.float32)
    return x


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(torch.from_numpy(x[i : i + 256])) for i in range(0, len(x), 256)])
    model.train()
    return float((pred.argmax(1).numpy() == y).mean())


def run(path: str, args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y, xt, yt, n_classes = load(path, args.normalize)
    model = ARCHITECTURES[args.arch](x.shape[1], n_classes, width=args.width)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.wd)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    batch = min(args.batch, len(x))
    per_epoch = math.ceil(len(x) / batch)
    total, step = per_epoch * args.epochs, 0
    best_loss, best_state, started = math.inf, None, time.perf_counter()
    for _epoch in range(args.epochs):
        order, loss_sum = rng.permutation(len(x)), 0.0
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            if len(idx) < 2:  # batchnorm needs two samples
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, args)
            xb = torch.from_numpy(augment(x[idx], args, rng))
            loss = loss_fn(model(xb), torch.from_numpy(y[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
        if loss_sum / len(x) < best_loss:
            best_loss, best_state = loss_sum / len(x), copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - started
    last = accuracy(model, xt, yt)
    model.load_state_dict(best_state)
    return {"best": accuracy(model, xt, yt), "last": last, "seconds": seconds, "loss": best_loss}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="resnet")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--wd", type=float, default=0.0)
    p.add_argument("--schedule", choices=["constant", "cosine", "onecycle"], default="cosine")
    p.add_argument("--warmup", type=float, default=0.0, help="cosine warm-up epochs")
    p.add_argument(
        "--normalize", choices=["standardize", "per_sample", "none"], default="standardize"
    )
    p.add_argument("--shift", type=float, default=0.0, help="<1: fraction of L, else samples")
    p.add_argument("--scale", type=float, default=0.0)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {vars(args) | {'files': None}}  load {os.getloadavg()[0]:.2f}", flush=True)
    accs = []
    for path in args.files:
        r = run(path, args)
        accs.append(r["best"])
        print(
            f"{Path(path).stem:24s} best-loss {r['best']:.4f}  last {r['last']:.4f}  "
            f"{r['seconds']:6.1f}s  train loss {r['loss']:.4f}",
            flush=True,
        )
    print(f"mean {np.mean(accs):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
