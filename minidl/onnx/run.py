"""Running an exported file in onnxruntime: ``run(path, x) -> outputs`` (NumPy arrays)."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["run"]


def run(path: str | os.PathLike, x, threads: int = 1):
    """The model at ``path`` on input ``x`` (array or Tensor) in onnxruntime's CPU provider:
    one array for a single-output model, else a list. ``threads``: intra-op threads."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError("minidl.onnx.run needs onnxruntime: pip install 'minidl[onnx]'") from err
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(os.fspath(path), options,
                                           providers=["CPUExecutionProvider"])
    data = np.asarray(getattr(x, "data", x))
    outputs = session.run(None, {session.get_inputs()[0].name: data})
    return outputs[0] if len(outputs) == 1 else outputs
