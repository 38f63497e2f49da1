# model zoo (issue 5): the lectures' architectures, CIFAR ResNets, names -> builders (zoo), weights
from .alexnet import AlexNet, alexnet
from .densenet import DenseNet, densenet121
from .googlenet import GoogLeNet, googlenet
from .inception_v3 import Inception3, inception_v3
from .inception import InceptionModule, conv2d_multiply_adds
from .mobilenet_v2 import MobileNetV2, mobilenet_v2
from .resnet import ResNet, resnet18, resnet34, resnet50
from .resnet_cifar import (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, CifarResNet, resnet20,
                           normalize, resnet32, resnet44, resnet56, resnet110, resnet_cifar)
from .vgg import VGG, vgg16, vgg16_bn, vgg19, vgg19_bn
from .zoo import ARCHITECTURES, Architecture, build_model
from ..pretrained import load_pretrained, pretrained_path
# Lab 6 (issue 3): the lab's Fashion-MNIST CNN, a small CNN for 8x8 digits, the MLP baseline
from .lab6 import ConvNet, digits_cnn, lab6_cnn
from .mlp import mlp
# Transfer studies (issue 18): numbered conv layers to copy the first k of
from .layered_cnn import LayeredCNN, layered_cnn
