"""Class weights for cross-entropy, balanced accuracy and macro F1 (issue 24, item 2).

The weighted loss against a direct per-sample computation of PyTorch's documented rule and its
gradient against finite differences; ``balanced`` weights; the resolved weights kept with the
run (summary.json, checkpoint) and reused by ``conv1d eval`` and ``--resume``; the new metrics
against scikit-learn, as monitors for early stopping and as a sweep metric.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.utils.class_weight import compute_class_weight
from typer.testing import CliRunner

from conv1d_cli.build.class_weights import resolve_class_weight, run_loss, stored_weights
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.errors import ConfigError, DataError
from conv1d_cli.nn import SoftmaxCrossEntropy
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.rundir.metrics_log import MetricsLog
from conv1d_cli.sweep.spec import TEST_KEYS, MetricSpec, metric_tasks
from conv1d_cli.task import TASKS, add_tallies
from conv1d_cli.training.progress import format_epoch_line, table_columns
from conv1d_cli.training.setup import settle_task, setup_training
from tests.gradcheck import numerical_gradient, relative_error
from tests.sweep_helpers import read_trials, write_sweep

runner = CliRunner()
CLASSES = ("common", "middle", "rare")


# ------------------------------------------------------------------------- the weighted loss
def _direct_loss(logits: np.ndarray, labels: np.ndarray, w: np.ndarray, e: float) -> float:
    """PyTorch's CrossEntropyLoss(weight=w, label_smoothing=e), mean reduction, one sample at a
    time: sum_n [(1-e) w[y] (-log p[y]) + e/K sum_c w[c] (-log p[c])] / sum_n w[y_n]."""
    k = logits.shape[1]
    total = divisor = 0.0
    for row, y in zip(logits, labels, strict=True):
        log_p = [float(v - np.log(np.sum(np.exp(row)))) for v in row]
        total += (1 - e) * w[y] * -log_p[y] + e / k * sum(w[c] * -log_p[c] for c in range(k))
        divisor += w[y]
    return total / divisor


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_weighted_loss_and_gradient_match_a_direct_computation(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (7, 4))
    labels = np.array([0, 1, 1, 3, 0, 2, 3])
    w = np.array([0.5, 2.0, 1.0, 4.0])
    loss = SoftmaxCrossEntropy(smoothing, class_weight=w)
    value = loss.forward(logits, labels)
    assert value == pytest.approx(_direct_loss(logits, labels, w, smoothing), rel=1e-12)
    assert loss.batch_weight == pytest.approx(w[labels].sum(), rel=1e-15)
    analytic = loss.backward()

    x = logits.copy()
    numeric = numerical_gradient(lambda: _direct_loss(x, labels, w, smoothing), x)
    assert relative_error(analytic, numeric) < 1e-7
    # The gradient by hand: [(1-e) w_y (p - onehot_y) + e/K (sum(w) p - w)] / sum w_y.
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(4)[labels]
    by_hand = (1 - smoothing) * w[labels][:, None] * (p - onehot)
    by_hand += smoothing / 4 * (w.sum() * p - w)
    np.testing.assert_allclose(analytic, by_hand / w[labels].sum(), rtol=1e-12, atol=1e-15)


def test_unit_weights_are_the_unweighted_loss():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(0, 1, (6, 3)).astype(np.float32), np.array([0, 1, 2, 2, 1, 0])
    plain, unit = SoftmaxCrossEntropy(0.2), SoftmaxCrossEntropy(0.2, class_weight=np.ones(3))
    assert unit.forward(logits, labels) == pytest.approx(plain.forward(logits, labels), rel=1e-6)
    np.testing.assert_allclose(unit.backward(), plain.backward(), rtol=1e-5, atol=1e-7)
    assert unit.backward().dtype == np.float32  # the gradient keeps the logits' dtype


def test_class_weight_must_fit_the_logits():
    with pytest.raises(ValueError, match="weights > 0"):
        SoftmaxCrossEntropy(class_weight=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="2 weights but the logits have 3 classes"):
        SoftmaxCrossEntropy(class_weight=np.ones(2)).forward(np.zeros((1, 3)), np.array([0]))


# ------------------------------------------------------------------------ resolving weights
def test_balanced_weights_follow_scikit_learns_rule():
    y = np.array([0] * 50 + [1] * 3 + [2] * 1)
    weights = resolve_class_weight("balanced", CLASSES, y)
    np.testing.assert_allclose(weights, 54 / (3 * np.array([50, 3, 1])), rtol=1e-15)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(weights, expected, rtol=1e-15)
    # each class adds the same total weight: n / K
    np.testing.assert_allclose(weights * np.bincount(y), 18.0, rtol=1e-15)


def test_a_mapping_names_classes_and_the_others_weigh_one():
    y = np.array([0, 1, 2])
    weights = resolve_class_weight({"rare": 5, "middle": 2.5}, CLASSES, y)
    np.testing.assert_array_equal(weights, [1.0, 2.5, 5.0])
    # integer labels are classes "0", "1", ...: YAML's int keys find them
    np.testing.assert_array_equal(resolve_class_weight({1: 3.0}, ("0", "1"), y[:2]), [1.0, 3.0])
    with pytest.raises(ConfigError) as error:
        resolve_class_weight({"rar": 2.0, "rare": 1.0}, CLASSES, y)
    assert str(error.value) == (
        "loss.class_weight: unknown class rar; the classes are common, middle, rare"
    )
    with pytest.raises(DataError, match="balanced needs every class in the training split; rare"):
        resolve_class_weight("balanced", CLASSES, np.array([0, 1, 1]))


def test_weights_must_be_positive_in_the_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {layers: [{type: dense}]}\nloss: {class_weight: {rare: 0}}\n")
    with pytest.raises(
        ConfigError, match=r"loss\.class_weight\.rare \(line 2\): got 0, expected a number > 0"
    ):
        load_config(path)


def test_regression_refuses_class_weight_in_one_line():
    cfg = load_config_dict(
        {"model": {"layers": [{"type": "dense"}]}, "loss": {"class_weight": "balanced"}}, "t"
    )
    with pytest.raises(ConfigError) as error:
        settle_task(cfg, "regression", True)
    assert str(error.value) == (
        "loss.class_weight: applies to cross_entropy only, not mse; leave it out"
    )


# ------------------------------------------------------------------------------ the metrics
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_and_macro_f1_match_scikit_learn():
    task = TASKS["classification"]
    rng = np.random.default_rng(3)
    y = rng.choice(4, 200, p=[0.7, 0.2, 0.1, 0.0])  # class 3 never true; sometimes predicted
    logits = rng.normal(0, 1, (200, 4)) + 2.0 * np.eye(4)[y]
    predicted = np.argmax(logits, axis=1)
    tally: dict = {}
    for start in range(0, 200, 64):  # batch by batch, as the loop adds them up
        add_tallies(tally, task.tally(logits[start : start + 64], y[start : start + 64]))
    scores = task.scores(tally, 200)
    assert scores["acc"] == pytest.approx(np.mean(predicted == y), abs=1e-12)
    assert scores["balanced_acc"] == pytest.approx(balanced_accuracy_score(y, predicted), abs=1e-12)
    assert scores["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"), abs=1e-12)
    assert (predicted == 3).any()  # the case scikit-learn counts in macro F1, not in recall


def test_a_tally_from_before_the_confusion_matrix_still_scores():
    """A checkpoint saved mid-epoch by an older version holds {"correct": n} only."""
    task = TASKS["classification"]
    tally = {"correct": 7.0}  # 10 samples seen before the interruption
    logits, y = np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 1, 0])
    add_tallies(tally, task.tally(logits, y))
    scores = task.scores(tally, 14)
    assert scores["acc"] == pytest.approx(10 / 14, abs=1e-12)
    assert np.isnan(scores["balanced_acc"]) and np.isnan(scores["macro_f1"])


def test_the_console_shows_accuracy_and_validation_balanced_accuracy():
    keys = [key for key, _, _ in table_columns(TASKS["classification"].metrics)]
    assert keys[1:6] == ["train_loss", "train_acc", "val_loss", "val_acc", "val_balanced_acc"]
    row = dict.fromkeys(("epoch", *TASKS["classification"].columns()), 0.5)
    line = format_epoch_line(
        {**row, "epoch": 1, "lr": 0.1, "epoch_seconds": 1, "samples_per_s": 9}, 2, False
    )
    assert "val_balanced_acc 0.5000" in line and "macro_f1" not in line


def test_an_old_metrics_csv_gains_the_new_columns_empty(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,epoch_seconds,samples_per_s\n"
        "1,0.5,0.8,0.6,0.7,0.01,1.0,100\n"
    )
    log = MetricsLog(tmp_path, TASKS["classification"].columns())
    assert log.truncate_to_epoch(1)[0]["val_acc"] == 0.7
    with (tmp_path / "metrics.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    assert row["val_balanced_acc"] == "" and row["val_acc"] == "0.7"


def test_the_new_metrics_are_sweep_metrics():
    for name in ("val_macro_f1", "val_balanced_acc", "test_macro_f1", "train_balanced_acc"):
        assert MetricSpec(name=name).maximize is True
        assert metric_tasks(name) == ("classification",)
    assert TEST_KEYS["test_balanced_acc"] == "balanced_accuracy"
    assert TEST_KEYS["test_macro_f1"] == "macro_f1"


# ------------------------------------------------------------------------------- real runs
def _imbalanced(path: Path, seed: int = 0) -> Path:
    """40 / 8 / 4 training series (sine, square, sawtooth; 1 channel, 32 steps), 6 test each."""
    rng = np.random.default_rng(seed)

    def waves(counts):
        kind = np.repeat(np.arange(3), counts)
        cycle = (np.arange(32)[None, :] / rng.uniform(6, 12, (len(kind), 1))) % 1.0
        shapes = np.stack([np.sin(2 * np.pi * cycle), np.sign(0.5 - cycle), 2 * cycle - 1])
        x = shapes[kind, np.arange(len(kind))] + rng.normal(0, 0.3, (len(kind), 32))
        return x[:, None, :].astype(np.float32), np.array(CLASSES)[kind]

    x, y = waves((40, 8, 4))
    x_test, y_test = waves((6, 6, 6))
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


def _config(tmp_path: Path, loss: str = "{class_weight: balanced}") -> Path:
    data = _imbalanced(tmp_path / "imbalanced.npz")
    path = tmp_path / "weighted.yaml"
    path.write_text(
        textwrap.dedent(f"""
        seed: 0
        data: {{path: {data}, val_split: 0.25}}
        model:
          layers:
            - {{type: conv1d, channels: 4, kernel: 5, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        loss: {loss}
        optimizer: {{lr: 0.01}}
        train: {{epochs: 2, batch_size: 8}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def _train(*args: str) -> Path:
    result = runner.invoke(app, ["train", *args, "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout.splitlines()[-1])["run_dir"])


def test_weights_are_kept_with_the_run_and_reused_by_eval_and_resume(tmp_path):
    run = _train(str(_config(tmp_path, "{class_weight: balanced, label_smoothing: 0.1}")))
    summary = json.loads((run / "summary.json").read_text())
    meta = load_checkpoint(run / "checkpoints" / "best.safetensors").meta
    stored = meta["data"]["class_weight"]
    assert summary["class_weight"] == stored
    assert list(stored) == list(CLASSES)
    assert (run / "config.yaml").read_text().count("class_weight: balanced") == 1

    result = runner.invoke(app, ["eval", str(run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    test = summary["test"]
    assert report["loss"] == pytest.approx(test["loss"], rel=1e-5)  # the same weighted loss
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert report[key] == pytest.approx(test[key], abs=1e-12)
    recalls = [row["recall"] for row in report["per_class"]]
    assert report["balanced_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-12)
    assert report["macro_f1"] == pytest.approx(
        np.mean([row["f1"] for row in report["per_class"]]), abs=1e-12
    )

    resumed = setup_training(None, ["train.epochs=3"], resume=run)
    try:
        weights = resumed.trainer.loss_fn.class_weight
        np.testing.assert_array_equal(weights, stored_weights(stored, CLASSES))
        # balanced on the training split (52 series less the validation ones): n / (K count)
        counts = np.bincount(resumed.data.y_train, minlength=3)
        assert counts[0] > counts[1] > counts[2] > 0
        np.testing.assert_allclose(weights, counts.sum() / (3 * counts), rtol=1e-15)
        # the stored weights win over a recount (the training split could not differ, but the
        # run's own numbers are what it trained with)
        other = {"common": 1.0, "middle": 2.0, "rare": 3.0}
        rebuilt = run_loss(resumed.cfg, resumed.data, other)
        np.testing.assert_array_equal(rebuilt.class_weight, [1.0, 2.0, 3.0])
    finally:
        resumed.lock.release()


def test_an_unweighted_run_stores_no_weights(tmp_path):
    run = _train(str(_config(tmp_path, "{label_smoothing: 0.0}")))
    assert "class_weight" not in json.loads((run / "summary.json").read_text())
    meta = load_checkpoint(run / "checkpoints" / "last.safetensors").meta
    assert meta["data"]["class_weight"] is None
    with (run / "metrics.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header[1:9] == list(TASKS["classification"].columns())


def test_an_unknown_class_in_the_mapping_is_one_line_exit_2(tmp_path):
    config = _config(tmp_path, "{class_weight: {rare: 4, medium: 2}}")
    result = runner.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 2
    assert "loss.class_weight: unknown class medium; the classes are common, middle, rare" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_early_stopping_on_val_balanced_acc(tmp_path):
    # sgd with a learning rate too small to move anything: the metric never improves again
    config = _config(tmp_path)
    sets = [
        "output.monitor=val_balanced_acc",
        "train.epochs=6",
        "train.early_stopping={patience: 2}",
        "optimizer={type: sgd, lr: 1e-12}",
    ]
    args = [arg for value in sets for arg in ("--set", value)]
    run = _train(str(config), *args)
    summary = json.loads((run / "summary.json").read_text())
    with (run / "metrics.csv").open() as handle:
        values = [float(row["val_balanced_acc"]) for row in csv.DictReader(handle)]
    assert summary["status"] == "early_stopped"
    assert summary["best"]["metric"] == "val_balanced_acc"
    assert len(values) == 3  # epoch 1 is the best, two more without improvement
    assert summary["best"]["value"] == pytest.approx(max(values), abs=1e-12)


def test_a_sweep_maximizes_val_macro_f1(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: f1
        metric: {name: val_macro_f1}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
        executor: {workers: 1}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    trials = read_trials(tmp_path / "runs" / "f1")
    assert len(trials) == 2
    winner = max(trials, key=lambda row: float(row["val_macro_f1"]))
    assert f"best: {winner['trial']} completed val_macro_f1" in result.stdout
