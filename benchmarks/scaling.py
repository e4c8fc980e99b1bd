"""The scaling rows of `make bench`: one small network's step time and memory vs shape.

Length, channels and batch are varied one at a time; every shape runs in a fresh process
(supervised: a crash or hang becomes a "failed" row, see supervise.py) so each peak RSS is its
own. ``largest_cols_mb`` says how big the engine's largest convolution buffer gets, to show that
chunking caps it.
"""

from __future__ import annotations

from typing import Any

import workers
from supervise import WorkerFailed, announce, in_fresh_process


def scaling_config(channels: int) -> dict:
    """A length-agnostic network (global pooling before the classifier) for the scaling runs."""
    return {
        "model": {
            "layers": [
                {"type": "conv1d", "channels": channels, "kernel": 7, "stride": 2, "padding": 3},
                {"type": "relu"},
                {"type": "conv1d", "channels": channels, "kernel": 5, "padding": "same"},
                {"type": "relu"},
                {"type": "maxpool1d", "kernel": 2},
                {"type": "globalavgpool1d"},
                {"type": "dense", "units": 10},
            ]
        },
        "optimizer": {"type": "adam", "lr": 0.001},
    }


def largest_cols_mb(channels: int, length: int, batch: int) -> float:
    """Largest convolution working buffer of the scaling network, per the engine's chunking."""
    from conv1d_cli.nn import functional as fn

    half = -(-length // 2)
    biggest = 0
    # (C_in, K, stride, C_out, padded length, output length) of its two convolutions
    for c, k, s, o, lp, out_len in (
        (1, 7, 2, channels, length + 6, half),
        (channels, 5, 1, channels, half + 4, half),
    ):
        chunk = fn.work_chunk(batch, c, k, o, s, lp, out_len, 4)
        taps = fn.uses_taps(c, k, s, c * k * batch * out_len * 4)
        per_sample = (c + 2 * o) * lp if taps else c * k * out_len
        biggest = max(biggest, chunk * per_sample * 4)
    return biggest / 2**20


def run_scaling(args: Any) -> list[dict]:
    """One row per shape of the grid (fewer with ``args.quick``)."""
    quick = args.quick
    lengths = [784, 4096, 16384] if quick else [784, 2048, 4096, 8192, 16384]
    grid = [("length", 32, n, 64) for n in lengths]
    grid += [("channels", c, 784, 64) for c in ([16, 64] if quick else [16, 32, 64, 128])]
    grid += [("batch", 32, 784, b) for b in ([16, 256] if quick else [16, 64, 256])]
    rows = []
    for axis, channels, length, batch in grid:
        steps = 2 if quick else 4
        shape = {"axis": axis, "channels": channels, "length": length, "batch": batch}
        try:
            out = in_fresh_process(
                workers.scaling_run,
                *(scaling_config(channels), (1, length), batch, steps, args.threads),
                attempts=args.attempts,
                label=f"numpy worker for scaling C={channels} L={length} N={batch}",
                timeout=args.worker_timeout,
            )
        except WorkerFailed as exc:
            announce(str(exc))
            rows.append({**shape, "failed": str(exc)})
            continue
        out.update(shape)
        out["samples_per_s"] = batch / out["step_s"]
        out["largest_cols_mb"] = largest_cols_mb(channels, length, batch)
        rows.append(out)
        print(
            f"  scaling {axis}: C={channels} L={length} N={batch}: "
            f"{out['step_s'] * 1000:.1f} ms/step"
        )
    return rows
