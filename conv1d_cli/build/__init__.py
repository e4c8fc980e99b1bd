"""From a validated config to objects, and whether they fit in memory before they exist.

- ``objects``: lookup tables from config to network, loss, optimizer, schedule, data-parallel.
- ``class_weights``: ``loss.class_weight`` resolved on the training split, kept with the run.
- ``shapes``: a shape-only pass over the config: the engine's per-layer rows, no weights.
- ``memory``: the preflight that refuses a model or batch the machine cannot hold.
- ``checkpoint_check``: a checkpoint's config against its tensors' shapes and memory, before
  anything is built from it.
- ``summary``: ``conv1d summary``: per-layer shapes, parameters, multiply-accumulates.
"""
