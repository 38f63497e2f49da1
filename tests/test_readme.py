"""The README's Python examples run as printed, and do what their comments say."""
import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def block_under(heading: str) -> str:
    """The first ```python block after the heading line."""
    rest = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", rest, re.S).group(1)


def test_define_and_train_in_ten_lines_learns_the_digits():
    scope = {}
    exec(block_under("## Define and train a model in ten lines"), scope)
    net, loader, tensor = scope["net"], scope["loader"], scope["minidl"].Tensor
    net.eval()
    right = sum(int((net(tensor(x)).numpy().argmax(1) == y).sum()) for x, y in loader)
    assert right / len(loader.labels) > 0.9                # training accuracy after 10 epochs


def test_write_your_own_op_is_correct_and_checked(capsys):
    scope = {}
    exec(block_under("### Write your own op"), scope)
    x = scope["x"]
    np.testing.assert_allclose(x.grad, 1 / (1 + np.exp(-x.numpy())), rtol=1e-12)
    assert capsys.readouterr().out.startswith("gradcheck passed")
