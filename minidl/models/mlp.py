"""A multilayer perceptron: the fully connected baseline that the CNNs are compared with."""
from __future__ import annotations

from .. import nn


def mlp(in_features: int, hidden=(256,), num_classes: int = 10, dropout: float = 0.0) -> nn.Sequential:
    """(N, ...) -> flatten -> [Linear -> ReLU (-> Dropout)] per hidden width -> Linear -> (N, num_classes).

    in_features is the flattened input size (784 for 28x28 images); hidden lists the widths.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
