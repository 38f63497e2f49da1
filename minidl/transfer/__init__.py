"""Transfer learning: read pretrained checkpoints (re-exported from minidl.pretrained), freeze
and fine-tune, extract features, adapt inputs to the source network.

    from minidl.models.resnet_cifar import resnet_cifar
    from minidl.transfer import freeze, replace_head, param_groups

    model = resnet_cifar(20, pretrained=True)
    replace_head(model, num_classes=10)
    freeze(model, upto="layer2")                     # stem, layer1, layer2: fixed, BN stats too
    opt = minidl.optim.SGD(param_groups(model, base_lr=0.01), lr=0.01, momentum=0.9)
"""
from ..pretrained import (CheckpointError, UnsafeCheckpointError, convert_state_dict,
                          load_torch_checkpoint, load_torch_state_dict)
from .adapt import GrayToRGBAdapter, adapt_images
from .features import extract_features
from .finetune import copy_weights, param_groups
from .freeze import freeze, replace_head, select, stage_names, trainable_summary, unfreeze
from .linear_probe import LogisticRegression, sklearn_logistic_regression

__all__ = ["CheckpointError", "GrayToRGBAdapter", "LogisticRegression", "UnsafeCheckpointError",
           "adapt_images", "convert_state_dict", "copy_weights", "extract_features",
           "freeze", "load_torch_checkpoint", "load_torch_state_dict", "param_groups", "replace_head",
           "select", "sklearn_logistic_regression", "stage_names", "trainable_summary", "unfreeze"]
