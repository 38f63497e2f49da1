"""``import minidl`` alone gives every subpackage (as ``import torch`` gives ``torch.nn``), and
imports none of the optional or heavy dependencies until they are used."""
import json
import subprocess
import sys

import minidl

OPTIONAL = ("matplotlib", "mpi4py", "onnx", "onnxruntime", "safetensors", "torch", "cupy", "sklearn")


def test_every_subpackage_is_an_attribute():
    for name in ("nn", "optim", "data", "train", "models", "transfer", "pretrained", "functional"):
        module = getattr(minidl, name)
        assert module.__name__ == f"minidl.{name}" and name in dir(minidl)
    assert minidl.nn.Conv2d and minidl.optim.SGD and minidl.data.DataLoader and minidl.train.fit
    assert minidl.viz.__name__ == "minidl.viz" and "viz" in dir(minidl)        # a lazy one


def test_unknown_attribute_is_an_attribute_error():
    try:
        minidl.nn_
    except AttributeError as err:
        assert "module 'minidl' has no attribute 'nn_'" in str(err)
    else:
        raise AssertionError("minidl.nn_ should not exist")


def test_import_loads_no_optional_dependency():
    code = ("import sys, json, minidl; minidl.nn.Linear(2, 2); "
            f"print(json.dumps([m for m in {OPTIONAL!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []
