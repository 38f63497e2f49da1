"""Loss modules, for code that prefers ``criterion = nn.CrossEntropyLoss()``."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class CrossEntropyLoss(Module):
    def forward(self, logits, target):
        return F.cross_entropy(logits, target)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(Module):
    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target)
