"""Using a trained network: load it from its checkpoint, evaluate, predict, export.

- ``load``: ``load_model``: checkpoint -> network, normalization, class names, input shape.
- ``fastpath``: the eval-mode forward without the training machinery (per layer kind).
- ``evaluate``: ``conv1d eval``: score a checkpoint on a test split, write eval.json.
- ``predict``: ``conv1d predict``: label new samples batch by batch, as CSV or JSON lines.
- ``scatter``: eval's regression picture: predicted against true values, with residuals.
- ``inputs``: what predict reads: any file the data readers take, as batches of raw samples.
- ``explain``: Grad-CAM at one layer and input x gradient, on the engine's own backward.
- ``explain_io``: ``conv1d explain`` / ``conv1d show``: samples in, attributions and pictures out.
- ``explain_plots``: their pictures (attribution bands, class means, kernels, feature maps).
- ``export/``: ``conv1d export``: the network as an ONNX graph, checked in onnxruntime.
"""
