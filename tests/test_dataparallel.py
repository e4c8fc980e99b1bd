"""Data-parallel training (conv1d_cli/nn/dataparallel.py) against one process on the whole batch.

The reference is the engine itself on one process: same logits, loss, gradients, running
statistics and weights after optimizer steps, to float64 rounding (the sums run in another
order). Worker processes are started and stopped inside each test; none may outlive it.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from run_helpers import StopAfter, rows, start, wait_for, wait_while_running, weights
from threadpoolctl import threadpool_info, threadpool_limits
from typer.testing import CliRunner

from conv1d_cli import nn
from conv1d_cli.errors import TrainingInterrupted
from conv1d_cli.parallel.dataparallel import DataParallel, WorkerError
from conv1d_cli.parallel.wire import read_message, send_message
from conv1d_cli.training.optim import Adam
from conv1d_cli.training.setup import run_training, setup_training

runner = CliRunner()


def blocks_network(rng: np.random.Generator, dtype: str = "float64") -> nn.Sequential:
    """Conv + batchnorm, a residual block with a projection, a parallel block, batchnorm on
    features, dropout: every place where samples of a batch meet or draw random numbers."""
    conv = lambda c_in, c_out, k, s=1: nn.Conv1d(  # noqa: E731
        c_in, c_out, k, stride=s, padding="same" if s == 1 else k // 2, rng=rng, dtype=dtype
    )
    residual = nn.Residual(
        nn.Sequential([conv(4, 6, 3, 2), nn.BatchNorm1d(6, dtype=dtype), nn.ReLU()]),
        nn.Sequential([conv(4, 6, 1, 2), nn.BatchNorm1d(6, dtype=dtype)]),
        nn.ReLU(),
    )
    parallel = nn.Parallel(
        [
            nn.Sequential([conv(6, 3, 1)]),
            nn.Sequential([nn.MaxPool1d(3, stride=1, padding=1), conv(6, 2, 1)]),
        ]
    )
    return nn.Sequential(
        [
            conv(2, 4, 5),
            nn.BatchNorm1d(4, dtype=dtype),
            nn.ReLU(),
            residual,
            parallel,
            nn.GlobalAvgPool1d(),
            nn.Dense(5, 8, rng=rng, dtype=dtype),
            nn.BatchNorm1d(8, dtype=dtype),
            nn.ReLU(),
            nn.Dropout(0.3, rng=np.random.default_rng(7)),
            nn.Dense(8, 3, rng=rng, dtype=dtype),
        ]
    )


def _train_steps(model, x, y, steps: int = 3) -> list[tuple]:
    """(logits, loss, gradients) of each step; Adam updates in between."""
    loss_fn, optimizer, seen = nn.SoftmaxCrossEntropy(), Adam(lr=0.01), []
    model.train()
    for _ in range(steps):
        logits = model.forward(x)
        loss = loss_fn.forward(logits, y)
        model.backward(loss_fn.backward(), input_grad=False)
        grads = {k: v.copy() for k, v in model.gradients().items()}
        seen.append((logits.copy(), loss, grads))
        optimizer.step(model.parameters(), model.gradients())
    return seen


@pytest.mark.parametrize("workers, batch", [(2, 12), (3, 10), (3, 2)])
def test_workers_train_like_one_process(workers, batch):
    rng = np.random.default_rng(0)
    single = blocks_network(rng)
    twin = copy.deepcopy(single)
    data = np.random.default_rng(1)
    x = data.standard_normal((batch, 2, 24))
    y = data.integers(0, 3, batch)
    want = _train_steps(single, x, y)
    with DataParallel(twin, workers) as parallel:
        got = _train_steps(parallel, x, y)
        for (logits_w, loss_w, grads_w), (logits_g, loss_g, grads_g) in zip(want, got, strict=True):
            np.testing.assert_allclose(logits_g, logits_w, rtol=1e-10, atol=1e-12)
            assert loss_g == pytest.approx(loss_w, rel=1e-12)
            assert grads_g.keys() == grads_w.keys()
            for name in grads_w:
                np.testing.assert_allclose(grads_g[name], grads_w[name], rtol=1e-8, atol=1e-11)
        state_w, state_g = single.state_dict(), parallel.state_dict()
        # Weights after the updates and batchnorm's running statistics. A bias before a
        # batchnorm has a zero gradient up to rounding, so Adam moves it by rounding noise.
        for name in state_w:
            np.testing.assert_allclose(state_g[name], state_w[name], rtol=1e-8, atol=1e-6)
        # Eval mode runs in this process alone, with the same result.
        single.eval(), parallel.eval()
        np.testing.assert_allclose(parallel.forward(x), single.forward(x), rtol=1e-7, atol=1e-9)
        procs = list(parallel._procs)
    assert procs and not any(p.is_alive() for p in procs)


def test_float32_batchnorm_statistics_match_one_process():
    """Chan's combination of per-process statistics keeps float32 at float32's precision,
    also when the mean is far from zero (where sum of squares minus square of sums fails)."""
    layer = nn.BatchNorm1d(3, dtype="float32")
    twin = copy.deepcopy(layer)
    x = (np.random.default_rng(2).standard_normal((8, 3, 50)) + 300).astype(np.float32)
    with DataParallel(nn.Sequential([twin]), 2) as parallel:
        got = parallel.forward(x)
    want = nn.Sequential([layer]).forward(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)
    np.testing.assert_allclose(twin.buffers["running_var"], layer.buffers["running_var"], 1e-4)


def test_a_killed_worker_is_a_one_line_error_not_a_hang():
    model = blocks_network(np.random.default_rng(0))
    x, y = np.random.default_rng(1).standard_normal((6, 2, 24)), np.array([0, 1, 2, 0, 1, 2])
    with DataParallel(model, 2) as parallel:
        _train_steps(parallel, x, y, steps=1)
        os.kill(parallel._procs[0].pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="data-parallel worker 1 stopped"):
            parallel.forward(x)


def test_a_failing_worker_reports_its_error():
    model = nn.Sequential([nn.Dense(4, 2)])
    with DataParallel(model, 2) as parallel:
        # Rank 0's slice fits; the worker's has the wrong width only if slices differ, so
        # send the worker a bad slice directly: it answers with its error, then stops.
        send_message(parallel._conns[0], "forward", np.zeros((2, 5)))
        with pytest.raises(WorkerError, match="worker 1 failed: ValueError"):
            parallel._recv(0, "logits")


def conv_bn_network(rng: np.random.Generator) -> nn.Sequential:
    return nn.Sequential(
        [nn.Conv1d(2, 3, 3, rng=rng), nn.BatchNorm1d(3), nn.GlobalAvgPool1d(), nn.Dense(3, 2)]
    )


def test_a_worker_failing_while_rank0_waits_for_its_totals_reports_its_error():
    with DataParallel(conv_bn_network(np.random.default_rng(0)), 2) as parallel:
        parallel.model.train()
        # The worker's slice has 5 channels where the conv takes 2: it fails before its
        # batchnorm, so rank 0 is left waiting in the exchange for totals that never come.
        send_message(parallel._conns[0], "forward", np.zeros((2, 5, 8)))
        parallel._active = 1
        started = time.monotonic()
        with pytest.raises(WorkerError, match="worker 1 failed: ValueError"):
            parallel._allreduce(np.zeros(10))
        assert time.monotonic() - started < 5


def test_a_worker_waiting_for_a_sum_stops_cleanly_when_told():
    parallel = DataParallel(conv_bn_network(np.random.default_rng(0)), 2)
    proc = parallel._procs[0]
    send_message(parallel._conns[0], "forward", np.zeros((2, 2, 8)))
    time.sleep(0.5)  # the worker posts its totals and waits for a sum that never comes
    started = time.monotonic()
    parallel.close()
    assert proc.exitcode == 0 and time.monotonic() - started < 4  # stopped, not terminated


def test_a_step_interrupted_between_exchanges_leaves_a_clear_error_not_mixed_totals():
    x = np.random.default_rng(1).standard_normal((4, 2, 8))
    with DataParallel(conv_bn_network(np.random.default_rng(0)), 2) as parallel:
        parallel.model.train()

        def interrupted(local):
            raise KeyboardInterrupt

        parallel._allreduce = interrupted
        with pytest.raises(KeyboardInterrupt):
            parallel.forward(x)
        del parallel._allreduce
        with pytest.raises(WorkerError, match="interrupted in the middle of a step"):
            parallel.forward(x)


def test_parameters_and_gradients_are_the_layers_live_arrays_even_after_a_replacement():
    model = conv_bn_network(np.random.default_rng(0))
    twin = copy.deepcopy(model)
    x = np.random.default_rng(1).standard_normal((4, 2, 8))
    with DataParallel(model, 2) as parallel:
        parallel.train()
        params, grads = parallel.parameters(), parallel.gradients()
        assert list(params) == list(twin.parameters()) == list(grads)
        conv = parallel.model.layers[0]
        assert params["0.W"] is conv.params["W"] and grads["0.W"] is conv.grads["W"]
        # Something replaces a weight array (as a loader might): its values are the news.
        conv.params["W"] = twin.layers[0].params["W"] * 0.5
        twin.layers[0].params["W"] *= 0.5
        twin.train()
        np.testing.assert_allclose(parallel.forward(x), twin.forward(x), rtol=1e-4, atol=1e-5)
        assert parallel.parameters()["0.W"] is conv.params["W"]
        np.testing.assert_array_equal(conv.params["W"], twin.layers[0].params["W"])


def test_totals_too_wide_for_the_exchange_are_refused_by_name():
    from conv1d_cli.parallel.exchange import TotalsExchange

    exchange = TotalsExchange(2, 4)
    with pytest.raises(ValueError, match=r"totals of shape \(5,\) do not fit the exchange's 4"):
        exchange.allreduce(np.zeros(5), 0, 0.0, [])
    np.testing.assert_array_equal(exchange.allreduce(np.arange(3.0), 0, 0.0, []), [0, 1, 2])


class _PostedDuringTheCheck:
    """A semaphore whose sleeping wait times out just before the peer posts it."""

    def __init__(self):
        self.posted = False

    def acquire(self, block=True, timeout=None):
        if block:  # the sleeping wait times out; meanwhile the peer posts, then sends on
            self.posted = True
            return False
        return self.posted


def test_a_message_sent_after_the_post_is_left_for_later_not_taken_for_a_stop():
    from conv1d_cli.parallel.exchange import Peer, wait_posted

    def taken_for_a_stop():
        raise AssertionError("the message was read as if rank 0 had stopped")

    # The pipe has a message (say the next dropout mask) that rank 0 sent after its sum.
    wait_posted(_PostedDuringTheCheck(), 0.0, Peer(lambda: True, taken_for_a_stop))
    with pytest.raises(WorkerError, match="stopped"):
        never = _PostedDuringTheCheck()
        never.acquire = lambda block=True, timeout=None: False

        def fail():
            raise WorkerError("rank 0 stopped")

        wait_posted(never, 0.0, Peer(lambda: True, fail))


def test_training_run_with_workers_is_deterministic_and_close_to_one_process(tiny_config):
    results = {}  # tiny_config has dropout: rank 0 draws every mask
    for name, workers in (("one", 1), ("two", 2), ("two-again", 2)):
        overrides = ["train.epochs=2", f"train.workers={workers}", "train.dtype=float64"]
        setup = setup_training(tiny_config, overrides, name=name)
        assert run_training(setup).status == "completed"
        assert isinstance(setup.trainer.model, nn.Sequential)  # unwrapped after the run
        results[name] = setup.trainer.model.state_dict()
    for key, want in results["one"].items():
        np.testing.assert_array_equal(results["two-again"][key], results["two"][key])
        np.testing.assert_allclose(results["two"][key], want, rtol=1e-6, atol=1e-9)


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as handle:
            return [int(v) for v in handle.read().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_with_workers(tiny_config):
    proc = start(tiny_config, "--set", "train.epochs=200", "--set", "train.workers=2")
    run = tiny_config.parent / "runs" / "tiny"
    wait_while_running(proc, lambda: (run / "checkpoints" / "last.safetensors").exists(), 60)
    workers = _children(proc.pid)
    assert len(workers) >= 1 and all(_alive(pid) for pid in workers)
    return proc, run, workers


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_ctrl_c_with_workers_saves_and_stops_every_process(tiny_config):
    proc, run, workers = _start_with_workers(tiny_config)
    # A terminal's Ctrl-C reaches every process of the group: the workers ignore it.
    for pid in [proc.pid, *workers]:
        os.kill(pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"conv1d train --resume {run}" in err
    assert wait_for(lambda: not any(_alive(pid) for pid in workers), 10)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_workers_end_when_the_training_process_is_killed(tiny_config):
    proc, _, workers = _start_with_workers(tiny_config)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_for(lambda: not any(_alive(pid) for pid in workers), 15)


def test_fewer_cores_than_workers_sleeps_instead_of_spinning():
    """Two workers on one allowed core (a sweep's trial): still correct, and no spinning."""
    rng = np.random.default_rng(0)
    single = blocks_network(rng)
    twin = copy.deepcopy(single)
    x = np.random.default_rng(1).standard_normal((6, 2, 24))
    y = np.array([0, 1, 2, 2, 1, 0])
    with threadpool_limits(limits=1, user_api="blas"), DataParallel(twin, 2) as parallel:
        assert parallel._spin_s == 0
        got = _train_steps(parallel, x, y, steps=2)
    want = _train_steps(single, x, y, steps=2)
    np.testing.assert_allclose(got[-1][0], want[-1][0], rtol=1e-9, atol=1e-12)


def _start_in_daemon(queue):
    try:
        DataParallel(nn.Sequential([nn.Dense(2, 2)]), 2)
    except ValueError as exc:
        queue.put(str(exc))


def test_more_workers_than_cores_gets_a_note_and_still_trains(tiny_config):
    from conv1d_cli.cli.app import app

    args = ["train", str(tiny_config), "--set", "train.workers=2", "--set", "train.epochs=1"]
    with threadpool_limits(limits=1, user_api="blas"):  # what OMP_NUM_THREADS=1 gives
        result = runner.invoke(app, [*args, "--name", "one-core"])
    assert result.exit_code == 0, result.output
    assert "note: train.workers is 2 but this run may use 1 core: its processes take" in (
        result.output
    )
    from conv1d_cli.parallel.dataparallel import cores_allowed

    if cores_allowed() >= 2:  # as on the 2-core test machine: no note
        result = runner.invoke(app, [*args, "--name", "enough"])
        assert result.exit_code == 0 and "note: train.workers" not in result.output


def test_a_daemonic_process_gets_a_clear_error():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_start_in_daemon, args=(queue,), daemon=True)
    proc.start()
    try:
        message = queue.get(timeout=60)
    finally:
        proc.join(timeout=30)
    assert "daemonic process" in message and "1 worker" in message


def test_a_system_without_posix_semaphores_gets_a_clear_error(monkeypatch, tiny_config):
    from conv1d_cli.cli.app import app
    from conv1d_cli.parallel import dataparallel

    def no_sem_open(workers, width):
        raise ImportError("This platform lacks a functioning sem_open implementation")

    monkeypatch.setattr(dataparallel, "TotalsExchange", no_sem_open)
    blas_before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with pytest.raises(ValueError, match="2 workers need POSIX semaphores.*train with 1 worker"):
        DataParallel(conv_bn_network(np.random.default_rng(0)), 2)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == blas_before
    # Through the command: one line naming the key, exit code 2, the run says why it failed.
    args = ["train", str(tiny_config), "--quiet", "--set", "train.workers=2", "--name", "nosem"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train.workers: 2 workers need POSIX")
    summary = json.loads((tiny_config.parent / "runs" / "nosem" / "summary.json").read_text())
    assert summary["status"] == "failed"


def test_an_interrupted_run_with_workers_resumes_bit_for_bit(tiny_config):
    overrides = ["train.epochs=2", "train.workers=2", "data.shift=1"]  # dropout included
    reference = setup_training(tiny_config, overrides, name="reference")
    run_training(reference)
    reporter = StopAfter(5, signal.SIGTERM)
    setup = setup_training(tiny_config, overrides, name="interrupted", reporter=reporter)
    reporter.trainer = setup.trainer
    with pytest.raises(TrainingInterrupted):
        run_training(setup)
    run = setup.trainer.run_dir
    assert run_training(setup_training(None, resume=run)).status == "completed"
    want, got = weights(reference.trainer.run_dir), weights(run)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert rows(run) == rows(reference.trainer.run_dir)


def test_messages_cross_as_raw_bytes_without_pickle():
    ours, theirs = multiprocessing.Pipe()
    strided = np.arange(24, dtype=np.float32).reshape(2, 3, 4).transpose(1, 0, 2)
    cases = [
        ("logits", np.linspace(0, 1, 385)),
        ("forward", strided),
        ("mask", np.array([[True, False], [False, True]])),
        ("logits", np.zeros((0, 3), np.float32)),
        ("gradients", None),
        ("error", "ValueError: ünïcode text"),
        ("stop", None),
    ]
    for kind, payload in cases:
        send_message(ours, kind, payload)
        got_kind, got = read_message(theirs)
        assert got_kind == kind
        if isinstance(payload, np.ndarray):
            assert got.dtype == payload.dtype and got.shape == payload.shape
            np.testing.assert_array_equal(got, payload)
            assert got.flags.writeable and got.ctypes.data % 16 == 0
        else:
            assert got == payload
    send_message(ours, "backward", (np.ones((2, 3)), False))
    kind, (grad, input_grad) = read_message(theirs)
    assert kind == "backward" and input_grad is False and grad.sum() == 6


def test_a_script_that_forgets_close_still_exits_and_leaves_no_worker(tmp_path):
    script = tmp_path / "forgets.py"
    script.write_text(
        "import numpy as np\n"
        "from conv1d_cli import nn\n"
        "from conv1d_cli.parallel.dataparallel import DataParallel\n"
        "if __name__ == '__main__':  # spawned workers import this file\n"
        "    parallel = DataParallel(nn.Sequential([nn.Dense(3, 2)]), 2)\n"
        "    parallel.forward(np.ones((4, 3)))\n"
        "    print(parallel._procs[0].pid)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    worker = int(done.stdout.split()[-1])
    assert wait_for(lambda: not _alive(worker), 10)


def test_an_idle_worker_starting_late_leaves_the_weights_alone():
    """Batch 2 on 3 processes: worker 2 never gets a slice and may start after the first
    steps; binding to the shared weights must not write its initial copy over them."""
    single = blocks_network(np.random.default_rng(0))
    twin = copy.deepcopy(single)
    x = np.random.default_rng(1).standard_normal((2, 2, 24))
    y = np.array([0, 2])
    _train_steps(single, x, y, steps=2)
    with DataParallel(twin, 3) as parallel:
        _train_steps(parallel, x, y, steps=2)
        assert wait_for(lambda: all(p.is_alive() for p in parallel._procs), 30)
        time.sleep(2)  # long enough for a spawned worker to import and bind
        for name, want in single.parameters().items():
            np.testing.assert_allclose(parallel.parameters()[name], want, rtol=1e-8, atol=1e-6)


def test_a_sweep_says_when_trials_get_fewer_cores_than_workers():
    from types import SimpleNamespace

    from rich.console import Console

    from conv1d_cli.sweep.driver import warn_workers_over_threads

    base = {"model": {"layers": [{"type": "dense", "units": 2}]}, "train": {"workers": 2}}
    plan = SimpleNamespace(sweep=SimpleNamespace(base_raw=base))
    console = Console(record=True, width=200)
    warn_workers_over_threads(plan, 1, console)
    text = console.export_text()
    assert "2 processes (train.workers)" in text and "1 core:" in text
    console = Console(record=True, width=200)
    warn_workers_over_threads(plan, 2, console)
    assert console.export_text() == ""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_a_killed_worker_ends_the_run_in_one_line_with_exit_5(tiny_config):
    proc, run, workers = _start_with_workers(tiny_config)
    spawned = [pid for pid in workers if b"spawn_main" in _cmdline(pid)]  # not the tracker
    assert len(spawned) == 1
    os.kill(spawned[0], signal.SIGKILL)  # what the out-of-memory killer would do
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "data-parallel worker 1 stopped" in lines[0]
    assert f"resume with: conv1d train --resume {run}" in lines[0]
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"
