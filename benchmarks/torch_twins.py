"""minidl's benchmark networks rebuilt in PyTorch, parameter for parameter, to run on its weights.

    cifar_resnet(torch, depth=20)   the option-A CIFAR ResNet of minidl.models.resnet_cifar
    lab6_cnn(torch)                 minidl.models.lab6_cnn (the lab CNN of train_step.py)
    copy_weights(torch, src, dst)   minidl model -> torch twin, every parameter and buffer

Parameter names match minidl's (which follow pytorch_resnet_cifar10 and the lab), so a state dict
moves across unchanged; torch's BatchNorm counter ``num_batches_tracked`` is the only extra key.
PyTorch is passed in, so this module imports without it.
"""
from __future__ import annotations


def cifar_resnet(torch, depth: int = 20, num_classes: int = 10):
    """(N, 3, 32, 32) -> (N, num_classes): conv1, bn1, layer1-3 of (depth - 2) / 6 BasicBlocks
    (16, 32, 64 channels), global average pool, linear."""
    tnn, F = torch.nn, torch.nn.functional

    class BasicBlock(tnn.Module):
        def __init__(self, in_planes, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.pad = planes // 4 if stride != 1 or in_planes != planes else 0

        def shortcut(self, x):          # option A: every second pixel, zero channels either side
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class CifarResNet(tnn.Module):
        def __init__(self, n):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            stage = lambda i, o, s: tnn.Sequential(BasicBlock(i, o, s), *(BasicBlock(o, o, 1) for _ in range(n - 1)))  # noqa: E731
            self.layer1, self.layer2, self.layer3 = stage(16, 16, 1), stage(16, 32, 2), stage(32, 64, 2)
            self.linear = tnn.Linear(64, num_classes)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
            return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))

    return CifarResNet((depth - 2) // 6)


def lab6_cnn(torch, num_classes: int = 10):
    """(N, 1, 28, 28) -> (N, num_classes): two conv 5x5 / batch norm / ReLU / max-pool 2 blocks
    (16, 32 channels), flatten, linear 1568 -> num_classes."""
    tnn = torch.nn

    class ConvNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(1, 16, 5, padding=2), tnn.BatchNorm2d(16), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(16, 32, 5, padding=2), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2))
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Linear(7 * 7 * 32, num_classes)

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))

    return ConvNet()


def copy_weights(torch, source, target) -> None:
    """Load a minidl model's parameters and buffers into its torch twin; any name or shape that
    does not match is an error naming it."""
    state = {k: torch.from_numpy(v.copy()) for k, v in source.state_dict().items()}
    missing, unexpected = target.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise KeyError(f"torch_twins.copy_weights: {type(target).__name__} lacks {unexpected} "
                       f"and minidl's {type(source).__name__} lacks {missing}")
