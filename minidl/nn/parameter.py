"""Parameter: a Tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor with requires_grad=True by default, registered by assigning it to a Module.

    Set ``requires_grad = False`` to freeze it: backward() then computes no gradient for it (nor
    any gradient that only it would need) and optimizers skip it.
    """

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
