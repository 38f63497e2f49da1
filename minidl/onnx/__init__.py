"""ONNX export (the optional extra ``pip install 'minidl[onnx]'``: onnx, onnxruntime).

    import minidl.onnx
    from minidl.models import resnet18

    model = resnet18()
    minidl.onnx.export(model, np.zeros((2, 3, 224, 224), np.float32), "resnet18.onnx")
    logits = minidl.onnx.run("resnet18.onnx", images)       # onnxruntime, (N, 1000)

Export traces the model: one forward pass in eval mode records every op (minidl.onnx.trace),
and each op becomes ONNX nodes (opset 17): convolutions (grouped and depthwise too), batch norm
with its running statistics, max/average/adaptive pooling, linear layers, activations, residual
adds, concatenations, reshapes and slices; dropout in eval mode is no op at all. An op without a
conversion is an ONNXExportError naming it. Layer: library (tensor, nn; no models).
"""
from .export import IR_VERSION, ONNXExportError, export, supported_ops
from .ops import OPSET
from .run import run

__all__ = ["IR_VERSION", "ONNXExportError", "OPSET", "export", "run", "supported_ops"]
