"""The fixed head of benchmarks/README.md: what make bench measures and how (report.py adds
the tables)."""

README_HEAD = """# Benchmarks

`make bench` (or `.venv/bin/python benchmarks/bench.py [--quick] [--sections ...]`) measures
the NumPy engine's speed and memory and writes `results.json` and this file. PyTorch is used
only here: `make bench` installs `torch==2.13.0` into `.venv` when it is missing
(`make bench BENCH_ARGS=--no-torch` skips it and the torch columns). A run of some sections
(`BENCH_ARGS="--sections templates"`) replaces only those; the other tables stay, with the date
of the run that measured them. A worker that raises, dies or hangs (`--worker-timeout`, 900 s
per reply) is one `FAILED:` line; its comparison is marked failed, the rest still runs, and the
exit status is 1.

- `bench.py` runs the sections; `workers.py` holds what runs in fresh processes (one per engine,
  with the same thread count, alternated repeat by repeat so ratios share the same minutes);
  `supervise.py` bounds every wait on them; `results_store.py` merges runs into `results.json`;
- `torch_reference.py` builds the same network in PyTorch from the same config and weights;
  `torch_mirror.py` mirrors any built network (residual and parallel blocks too), for the
  templates; `templates_torch.py` holds hand-written FCN/ResNet/InceptionTime twins and
  `recipe_torch.py` trains them on an npz to try a training recipe quickly;
- `reference_loops.py` is the course network as course notebooks write it (loops over samples,
  output channels and positions), checked against the engine's gradients before it is timed;
- `layers.py` times single layers, `loops.py` the direct loops, `scaling.py` the shapes;
  `deep.yaml` is the deeper config; `report.py` writes the tables; `contention.py` measures how
  much CPU other processes took during each repeat.

The machine is shared and noisy, and it hurts the NumPy engine more than PyTorch. Each of the
two virtual CPUs changes speed by up to 30-40% from one second to the next (a one-thread GEMM
pinned to CPU 0 and then to CPU 1, timed every second), and OpenBLAS splits every GEMM evenly
over its two threads, so a GEMM waits for the slower CPU. In some minutes whole two-thread
NumPy processes run about 1.7x slower (`mnist.yaml`: 100-110 ms per step instead of 58-62)
while one-thread runs stay at 80-90 ms and PyTorch slows by about 10%. The ratio column gives
the median over rounds and, in brackets, the range of the per-round ratios, which shows such
rounds; compare several runs before trusting a single one. Shorter OpenBLAS spinning
(`OPENBLAS_THREAD_TIMEOUT`) helped in slow minutes and hurt in quiet ones, so it is not set.
On one thread the engine is as fast as PyTorch (0.95-1.04x in the latest runs).

Per-layer NumPy times use channel-major inputs and gradients, which is what the engine's
layers receive inside a network (see `conv1d_cli/nn/functional.py`).

## Latest results

"""
