"""Data: datasets (Fashion-MNIST, MNIST, digits), IDX files, batch transforms, DataLoader, and
prepare() for an experiment's normalised train/validation/test splits."""
from minidl.data.dataset import ArrayDataset, Dataset
from minidl.data.datasets import (
    DIGIT_CLASSES,
    FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    MNIST,
    DatasetNotFoundError,
    IDXSource,
    digits,
    fashion_mnist,
    load_idx_dataset,
    mnist,
    search_dirs,
    to_float,
)
from minidl.data.idx import IDXError, read_idx, write_idx
from minidl.data.loader import DataLoader
from minidl.data.prepare import Prepared, image_stats, prepare
from minidl.data.subsets import class_subset, held_out, random_split, split_classes, stratified_split, subset
from minidl.data.transforms import (
    ColorCast,
    Compose,
    GaussianNoise,
    GrayToRGB,
    Normalize,
    PadTo,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomRotation,
    RandomShift,
    Resize,
    Transform,
)

__all__ = [
    "ArrayDataset", "Dataset", "DIGIT_CLASSES", "FASHION_MNIST", "FASHION_MNIST_CLASSES", "MNIST",
    "DatasetNotFoundError", "IDXSource", "digits", "fashion_mnist", "load_idx_dataset", "mnist",
    "search_dirs", "to_float", "IDXError", "read_idx", "write_idx", "DataLoader", "Prepared",
    "image_stats", "prepare", "random_split", "class_subset", "held_out", "split_classes",
    "stratified_split", "subset", "ColorCast", "Compose", "GaussianNoise", "GrayToRGB",
    "Normalize", "PadTo", "RandomCrop", "RandomErasing", "RandomHorizontalFlip", "RandomRotation",
    "RandomShift", "Resize", "Transform",
]
