"""AlexNet (Krizhevsky et al. 2012) as torchvision builds it: the one-GPU variant of
Krizhevsky's 2014 "one weird trick" paper (64-192-384-256-256 filters, not the two-tower
96-256-384-384-256 of 2012), so the published ImageNet checkpoint converts.

    features: conv 11x11/4 3->64, ReLU, maxpool 3/2, conv 5x5 ->192, ReLU, maxpool 3/2,
              conv 3x3 ->384, ReLU, conv 3x3 ->256, ReLU, conv 3x3 ->256, ReLU, maxpool 3/2
                                                           (N, 3, 224, 224) -> (N, 256, 6, 6)
    avgpool: AdaptiveAvgPool2d((6, 6))                                     -> (N, 256, 6, 6)
    classifier: Dropout, Linear 9216->4096, ReLU, Dropout, Linear 4096->4096, ReLU,
                Linear 4096->num_classes                                   -> (N, num_classes)

At 224x224 the map is already 6x6 and avgpool is the identity; other input sizes are averaged
to 6x6 with torchvision's (possibly overlapping) adaptive windows.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """(N, 3, 224, 224) -> (N, num_classes). Children: features, avgpool, classifier."""

    stages = {"features": ("features",), "classifier": ("classifier",)}

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))

    def stage(self, name: str) -> list[nn.Module]:
        """The modules of one stage ('features' or 'classifier')."""
        if name not in self.stages:
            raise KeyError(f"AlexNet.stage: unknown stage {name!r}; stages are {list(self.stages)}")
        return [getattr(self, attr) for attr in self.stages[name]]

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes: int = 1000) -> AlexNet:
    """AlexNet with torchvision's layer sizes (61,100,840 parameters for 1000 classes)."""
    return AlexNet(num_classes)
