"""The trained network as an ONNX graph: normalization built in, one emitter per layer kind.

The graph takes the same raw samples as ``conv1d predict``, float32 (batch, channels, length)
with a dynamic batch. A classifier outputs ``probabilities`` and ``logits`` (batch, classes); a
regression network outputs ``prediction`` (batch, K) in the targets' original units (the
training split's de-standardization, outputs * std + mean, is built in as graph nodes). Each
layer kind's engine class (``LayerSpec.engine``) has one function that appends its nodes
(``EMITTERS``; tests/test_layer_kinds.py fails for a kind without one); blocks recurse into
their layer lists. Shapes are the engine's own (``layer.output_shape``), so padding 'same'
resolves exactly as in NumPy. float64 networks are exported with float32 weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conv1d_cli import nn
from conv1d_cli.nn import functional as fn
from conv1d_cli.version import __version__

OPSET = 21  # opset of ONNX 1.16 (the extra's floor); onnxruntime >= 1.18 runs it
Shape = tuple[int, ...]


@dataclass
class GraphBuilder:
    """Nodes and weights of the graph being built; every name is unique."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    count: int = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, array: np.ndarray, hint: str = "const", dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(
        self, op: str, inputs: list[str], hint: str = "", out: str | None = None, **attrs: Any
    ) -> str:
        from onnx import helper

        out = out or self.fresh(hint or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


Emitter = Callable[[GraphBuilder, Any, str, Shape, str], str]


# --------------------------------------------------------------------------------- emitters
def _conv1d(g: GraphBuilder, layer: nn.Conv1d, x: str, shape: Shape, path: str) -> str:
    left, right = layer._pad_for(shape[1])
    if layer.padding_mode != "zeros" and (left or right):
        # The engine's own index map (any width, any mode) as one Gather along the length.
        index = fn.pad_indices(shape[1], left, right, layer.padding_mode)
        x = g.node("Gather", [x, g.const(index, f"{path}.pad", np.int64)], f"{path}.pad", axis=2)
        left = right = 0
    inputs = [x, g.const(layer.params["W"], f"{path}.W")]
    if "b" in layer.params:
        inputs.append(g.const(layer.params["b"], f"{path}.b"))
    return g.node(
        "Conv",
        inputs,
        path,
        kernel_shape=[layer.kernel_size],
        strides=[layer.stride],
        dilations=[layer.dilation],
        pads=[left, right],
    )


def _dense(g: GraphBuilder, layer: nn.Dense, x: str, shape: Shape, path: str) -> str:
    inputs = [x, g.const(layer.params["W"], f"{path}.W")]  # (in, out): no transpose needed
    if "b" in layer.params:
        inputs.append(g.const(layer.params["b"], f"{path}.b"))
    return g.node("Gemm", inputs, path)


def _pool(op: str, **extra: Any) -> Emitter:
    def emit(g: GraphBuilder, layer: Any, x: str, shape: Shape, path: str) -> str:
        # MaxPool ignores pads (the engine pads with -inf); AveragePool counts them as zeros,
        # as the engine does (PyTorch's count_include_pad=True).
        return g.node(
            op,
            [x],
            path,
            kernel_shape=[layer.kernel_size],
            strides=[layer.stride],
            pads=[layer.padding, layer.padding],
            **extra,
        )

    return emit


def _batchnorm(g: GraphBuilder, layer: nn.BatchNorm1d, x: str, shape: Shape, path: str) -> str:
    p, b = layer.params, layer.buffers
    names = [g.const(a, f"{path}.{k}") for k, a in (("gamma", p["gamma"]), ("beta", p["beta"]))]
    names += [g.const(b[k], f"{path}.{k}") for k in ("running_mean", "running_var")]
    return g.node("BatchNormalization", [x, *names], path, epsilon=layer.eps)


def _simple(op: str, **attrs: Any) -> Emitter:
    return lambda g, layer, x, shape, path: g.node(op, [x], path, **attrs)


def _residual(g: GraphBuilder, block: Any, x: str, shape: Shape, path: str) -> str:
    h = emit_layers(g, block.layers, x, shape, f"{path}.layers.")
    s = (
        x
        if block.shortcut is None
        else emit_layers(g, block.shortcut, x, shape, f"{path}.shortcut.")
    )
    y = g.node("Add", [h, s], f"{path}.sum")
    if block.activation is None:
        return y
    out_shape = tuple(block.layers.output_shape(shape))
    return emit_layers(g, [block.activation], y, out_shape, f"{path}.activation.")


def _parallel(g: GraphBuilder, block: Any, x: str, shape: Shape, path: str) -> str:
    outs = [
        emit_layers(g, branch, x, shape, f"{path}.branches.{i}.")
        for i, branch in enumerate(block.branches)
    ]
    return g.node("Concat", outs, f"{path}.concat", axis=1)


EMITTERS: dict[type, Emitter] = {
    nn.Residual: _residual,
    nn.Parallel: _parallel,
    nn.Conv1d: _conv1d,
    nn.Dense: _dense,
    nn.ReLU: _simple("Relu"),
    nn.LeakyReLU: lambda g, layer, x, s, path: g.node(
        "LeakyRelu", [x], path, alpha=layer.negative_slope
    ),
    nn.Tanh: _simple("Tanh"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.GELU: lambda g, layer, x, s, path: g.node("Gelu", [x], path, approximate=layer.approximate),
    nn.MaxPool1d: _pool("MaxPool"),
    nn.AvgPool1d: _pool("AveragePool", count_include_pad=1),
    nn.GlobalAvgPool1d: lambda g, layer, x, s, path: g.node(
        "ReduceMean", [x, g.const([2], f"{path}.axes", np.int64)], path, keepdims=0
    ),
    nn.Flatten: _simple("Flatten", axis=1),
    nn.Dropout: lambda g, layer, x, s, path: x,  # the identity in eval mode
    nn.BatchNorm1d: _batchnorm,
}


def emit_layers(g: GraphBuilder, layers: Any, x: str, shape: Shape, prefix: str = "") -> str:
    """Append every layer's nodes in order; blocks call this on their own layer lists."""
    for index, layer in enumerate(layers):
        emitter = EMITTERS.get(type(layer))
        if emitter is None:
            raise ValueError(f"no ONNX emitter for layer {prefix}{index} ({type(layer).__name__})")
        x = emitter(g, layer, x, shape, f"{prefix}{index}")
        shape = tuple(layer.output_shape(shape))
    return x


# ---------------------------------------------------------------------------- normalization
def emit_normalization(g: GraphBuilder, stats: dict[str, Any], x: str, channels: int) -> str:
    """The checkpoint's normalization as nodes: (x - shift[c]) / scale[c], or per sample."""
    if stats.get("method") == "per_sample":
        axes = g.const([2], "norm.axes", np.int64)
        mean = g.node("ReduceMean", [x, axes], "norm.mean", keepdims=1)
        centred = g.node("Sub", [x, mean], "norm.centred")
        var = g.node("ReduceMean", [g.node("Mul", [centred, centred]), axes], "norm.var")
        std = g.node("Sqrt", [var], "norm.std")
        zero = g.node("Equal", [std, g.const(0.0, "norm.zero")], "norm.is_zero")
        safe = g.node("Where", [zero, g.const(1.0, "norm.one"), std], "norm.safe_std")
        return g.node("Div", [centred, safe], "normalized")
    shift = np.asarray(stats["shift"], dtype=np.float32).reshape(1, channels, 1)
    scale = np.asarray(stats["scale"], dtype=np.float32).reshape(1, channels, 1)
    shifted = g.node("Sub", [x, g.const(shift, "norm.shift")], "norm.shifted")
    return g.node("Div", [shifted, g.const(scale, "norm.scale")], "normalized")


# ---------------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class Output:
    """One graph output: its name and what it holds (for the doc string and the summary)."""

    name: str
    meaning: str


def _classification_outputs(g: GraphBuilder, loaded: Any, last: str) -> list[Output]:
    logits = g.node("Identity", [last], out="logits")
    g.node("Softmax", [logits], out="probabilities", axis=1)
    return [Output("probabilities", "class probabilities"), Output("logits", "logits")]


def _regression_outputs(g: GraphBuilder, loaded: Any, last: str) -> list[Output]:
    """The network's standardized outputs back in the targets' units: outputs * std + mean.
    The standardized outputs are not exported: nothing outside the trainer uses them."""
    scaling = loaded.target_scaling
    if not scaling or "mean" not in scaling or "std" not in scaling:
        raise ValueError("the regression checkpoint stores no target scaling (mean and std)")
    k = n_outputs(loaded)
    mean = np.asarray(scaling["mean"], dtype=np.float64).reshape(-1)
    std = np.asarray(scaling["std"], dtype=np.float64).reshape(-1)
    if mean.shape != (k,) or std.shape != (k,):
        raise ValueError(
            f"the stored target scaling has {mean.size} means and {std.size} stds "
            f"but the network has {k} outputs"
        )
    scaled = g.node("Mul", [last, g.const(std.reshape(1, k), "target.std")], "target.scaled")
    g.node("Add", [scaled, g.const(mean.reshape(1, k), "target.mean")], out="prediction")
    return [Output("prediction", "predictions in the targets' units")]


# What each task's graph outputs, after the network's last layer.
OUTPUTS: dict[str, Callable[[GraphBuilder, Any, str], list[Output]]] = {
    "classification": _classification_outputs,
    "regression": _regression_outputs,
}


def n_outputs(loaded: Any) -> int:
    """K: the width of the network's last layer (classes, or regression targets)."""
    return int(loaded.model.output_shape(tuple(loaded.input_shape))[-1])


def build_onnx(loaded: Any) -> Any:
    """A LoadedModel -> onnx.ModelProto (checked with onnx.checker)."""
    import onnx
    from onnx import TensorProto, helper

    task = getattr(loaded, "task", "classification")
    if task not in OUTPUTS:
        raise ValueError(f"no ONNX outputs for the task {task!r}")
    channels, length = loaded.input_shape
    k = n_outputs(loaded)
    g = GraphBuilder()
    x = emit_normalization(g, loaded.normalization, "input", channels)
    last = emit_layers(g, loaded.model.layers, x, loaded.input_shape)
    outputs = OUTPUTS[task](g, loaded, last)
    graph = helper.make_graph(
        g.nodes,
        "conv1d",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, length])],
        [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, ["batch", k]) for o in outputs],
        initializer=g.initializers,
    )
    meanings = " and ".join(o.meaning for o in outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="conv1d",
        producer_version=__version__,
        doc_string=f"raw float32 (batch, channels, length) -> {meanings}",
    )
    model.ir_version = 10  # what ONNX 1.16 and onnxruntime 1.18 read
    metadata = {
        "task": task,
        "class_names": json.dumps(list(loaded.class_names)),
        "input_shape": json.dumps(list(loaded.input_shape)),
        "normalization": json.dumps(loaded.normalization),
        "config": json.dumps(loaded.config.model_dump(mode="json")),
        "epoch": json.dumps(loaded.epoch),
        "conv1d_version": __version__,
    }
    if task == "regression":  # what a reader needs to name the prediction columns
        metadata["target_names"] = json.dumps(list(loaded.target_names))
        metadata["target_scaling"] = json.dumps(loaded.target_scaling)
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model
