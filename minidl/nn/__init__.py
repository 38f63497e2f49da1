"""Layers that own parameters, built on minidl.functional (PyTorch's torch.nn names)."""
from . import hooks, init
from .activation import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .container import Flatten, Identity, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .fusion import conv_bn
from .linear import Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d",
           "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear",
           "MSELoss", "MaxPool2d", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh", "conv_bn", "hooks", "init"]
