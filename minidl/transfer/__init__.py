"""Transfer learning: read pretrained checkpoints, freeze and fine-tune, extract features,
adapt inputs to the source network.

    from minidl.models.resnet_cifar import resnet_cifar
    from minidl.transfer import freeze, replace_head, param_groups

    model = resnet_cifar(20, pretrained=True)
    replace_head(model, num_classes=10)
    freeze(model, upto="layer2")                     # stem, layer1, layer2: fixed, BN stats too
    opt = minidl.optim.SGD(param_groups(model, base_lr=0.01), lr=0.01, momentum=0.9)
"""
from .adapt import GrayToRGBAdapter, adapt_images
from .features import extract_features
from .finetune import copy_weights, param_groups
from .freeze import freeze, replace_head, select, stage_names, trainable_summary, unfreeze
from .linear_probe import LogisticRegression, sklearn_logistic_regression

__all__ = ["GrayToRGBAdapter", "LogisticRegression", "adapt_images", "copy_weights",
           "extract_features", "freeze", "param_groups", "replace_head", "select",
           "sklearn_logistic_regression", "stage_names", "trainable_summary", "unfreeze"]
