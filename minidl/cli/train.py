"""``python -m minidl train MODEL --dataset NAME ...``: train a model and write its run folder.

    python -m minidl train lab6 --dataset fashion-mnist --epochs 5 --out runs/lab6

writes into --out: history.json (per-epoch numbers, per-batch losses, test results, settings),
learning_curves.png, confusion_matrix.png (test set), filters.png (first layer's weights),
samples.png (test images with their predicted classes) and best.npz (the weights with the
lowest validation loss, which are also the ones scored on the test set) -- all at the end, so
a run that fails or is interrupted leaves an earlier run's files as they were. During training
checkpoint.npz holds everything needed to continue after the last finished epoch:

    python -m minidl train lab6 --dataset fashion-mnist --epochs 10 --out runs/lab6 --resume

With --distributed, under ``mpiexec -n N``, N processes train one model data-parallel
(minidl.distributed): each takes its shard of the training and validation images and
--batch-size of them per step (a global batch of N x --batch-size), the gradients are averaged,
and rank 0 alone prints and writes the run folder; --sync-batchnorm normalises by the global
batch's statistics. A checkpoint resumes with any number of processes.

    mpiexec -n 2 python -m minidl train lab6 --dataset fashion-mnist --distributed

MODEL is any architecture of minidl.models.zoo.ARCHITECTURES built for small images: lab6,
digits-cnn, mlp and the CIFAR ResNets (resnet20 ... resnet110).

Data (minidl.data.prepare): 10% of the training split (stratified, --val-fraction) is held out
for validation; images are scaled to [0, 1] and normalised with the mean and std of the whole
training split, as the model sees it. A model that fixes another image size gets the images
zero-padded when they are at most 1/8 smaller (Fashion-MNIST's 28x28 into the ResNets' 32x32,
as minidl.transfer.adapt does), else resized (lab6: 28x28, digits-cnn: 8x8); one that takes RGB
gets the gray channel copied to three, batch by batch (GrayToRGB).
Defaults: Adam with lr 1e-3 (SGD: lr 0.05, momentum 0.9), batch 128, 5 epochs, constant lr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import minidl
from minidl import data as D
from minidl import distributed, nn, optim, plot
from minidl.cli.numbers import (fraction, nonnegative_float, nonnegative_int, positive_float,
                                positive_int)
from minidl.models.zoo import ARCHITECTURES, build_model
from minidl.train import BestWeights, EarlyStopping, evaluate, fit

# The architectures this command trains: those for images up to 32x32 (the ImageNet ones take
# 224x224, 49x the pixels of a 32x32 image: too slow to train here, and the full training
# split resized to it would not fit in memory)
MAX_IMAGE_SIZE = 32
MODELS = [name for name, arch in ARCHITECTURES.items()
          if arch.image_size is None or arch.image_size <= MAX_IMAGE_SIZE]
DATASETS = ("fashion-mnist", "mnist", "digits")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3}
CHECKPOINT = "checkpoint.npz"      # in the run folder: what --resume continues from


def load_dataset(name: str, split: str) -> D.Dataset:
    """The 'train' or 'test' split of fashion-mnist, mnist or digits (files found offline first)."""
    if name == "fashion-mnist":
        return D.fashion_mnist(split)
    if name == "mnist":
        return D.mnist(split)
    if name == "digits":
        return D.digits(split)
    raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")


def size_transform(model: str, side: int) -> D.Transform | None:
    """How images of side x side pixels reach the size the model fixes: None (it takes them),
    PadTo (at most 1/8 smaller: zeros, i.e. black, around the image) or Resize (bilinear)."""
    size = ARCHITECTURES[model].image_size
    if size is None or side == size or size > MAX_IMAGE_SIZE:    # the big ones: input_transform
        return None
    return D.PadTo(size) if size - size // 8 <= side < size else D.Resize(size)


def channel_transform(model: str, channels: int) -> D.Transform | None:
    """The per-batch transform that gives the model the channels it takes: None, or GrayToRGB."""
    need = ARCHITECTURES[model].in_channels
    if need is None or need == channels:
        return None
    if (channels, need) == (1, 3):
        return D.GrayToRGB()
    raise ValueError(f"{model} takes {need}-channel images, the dataset has {channels}")


def _pick(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of at most `limit` of n samples, chosen at random with seed, in ascending order."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def prepare_data(dataset: str, model: str, limit: int | None = None, seed: int = 0,
                 val_fraction: float = 0.1) -> D.Prepared:
    """Load, subsample (limit), split off validation, bring to the model's image size and
    normalise (minidl.data.prepare); the channels are adapted per batch (channel_transform).

    The normalisation statistics come from the full training split, so the `evaluate`
    command reproduces them exactly from the dataset and model names.
    """
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    keep, keep_test = _pick(len(train), limit, seed), _pick(len(test), limit, seed + 1)
    part = train if len(keep) == len(train) else train.take(keep)
    return D.prepare(part, test.take(keep_test), val_fraction, seed,
                     size_transform(model, train.images.shape[-1]), stats=train)


def input_transform(model: str, image_shape) -> D.Transform | None:
    """The per-batch transform the loaders need for prepared images of image_shape (C, H, W):
    the channels (channel_transform) and, for the ImageNet-sized models (evaluate, finetune),
    the resize to their side -- batch by batch, as a whole split at 224x224 would not fit in
    memory."""
    adapt = channel_transform(model, image_shape[0])
    size = ARCHITECTURES[model].image_size
    if size is None or image_shape[-1] == size:
        return adapt
    return D.Compose([D.Resize(size)] + ([adapt] if adapt is not None else []))


def model_for(model: str, data: D.Prepared) -> tuple[nn.Module, D.Transform | None]:
    """The fresh model for the prepared data, and the per-batch transform its loaders need."""
    channels, side = data.image_shape[0], data.image_shape[-1]
    spec = ARCHITECTURES[model]
    in_channels = spec.in_channels if channel_transform(model, channels) is not None else channels
    return (build_model(model, len(data.classes), in_channels, spec.image_size or side),
            input_transform(model, data.image_shape))


def augmentation(dataset: str, mean: float, std: float):
    """Random shifts (and left-right flips for clothes, never for digits); the pixels shifted
    in are black, i.e. (0 - mean) / std after normalisation."""
    fill = (0.0 - mean) / std
    shift = 1 if dataset == "digits" else 2
    steps = [D.RandomShift(shift, fill=fill)]
    if dataset == "fashion-mnist":
        steps.append(D.RandomHorizontalFlip())
    return D.Compose(steps)


def first_layer_filters(model: nn.Module, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """(weights (F, C, kh, kw), layer name) of the first Conv2d; for a model without one, the
    first Linear layer's rows shaped as images (the 'templates' an MLP learns)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.numpy(), name
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.in_features == int(np.prod(image_shape)):
            return module.weight.numpy().reshape(-1, *image_shape), name
    raise ValueError(f"{type(model).__name__} has no Conv2d or input Linear layer to draw")


def make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: expected sgd or adam")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=list(MODELS), help="which model to train")
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--epochs", type=nonnegative_int, default=5)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help=f"learning rate (default: sgd {DEFAULT_LR['sgd']}, adam {DEFAULT_LR['adam']})")
    parser.add_argument("--momentum", type=nonnegative_float, default=0.9, help="SGD momentum")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    parser.add_argument("--schedule", choices=("none", "cosine"), default="none",
                        help="learning-rate schedule, stepped per epoch")
    parser.add_argument("--patience", type=positive_int, default=None,
                        help="stop early when the validation loss has not improved for this many epochs")
    parser.add_argument("--val-fraction", type=fraction, default=0.1)
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use at most N training and N test images (a quick run)")
    parser.add_argument("--augment", action="store_true", help="random shifts (and flips for clothes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/MODEL)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --out's checkpoint.npz (same settings; --epochs is "
                             "the total)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes of mpiexec -n N (--batch-size per "
                             "process; rank 0 prints and writes)")
    parser.add_argument("--sync-batchnorm", action="store_true",
                        help="with --distributed: batch norm over the global batch's statistics")


def run(args: argparse.Namespace) -> int:
    """Train; with --distributed, on every rank of mpiexec (one rank that fails or gives up
    ends the job with its error)."""
    if not getattr(args, "distributed", False):
        return train(args, None)
    comm = distributed.init()                       # size 1 outside mpiexec
    with distributed.abort_on_error(comm):
        code = train(args, comm)
        if code and comm.size > 1:
            raise SystemExit(code)                  # the other ranks must not wait for this one
    return code


def train(args: argparse.Namespace, comm) -> int:
    """The command, on one process (comm None) or on this rank of comm."""
    main = comm is None or comm.is_main
    out = args.out if args.out is not None else Path("runs") / args.model
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    minidl.manual_seed(args.seed)
    try:
        data = prepare_data(args.dataset, args.model, args.limit, args.seed, args.val_fraction)
    except (FileNotFoundError, ValueError) as err:    # DatasetNotFoundError included
        print(f"train: {err}", file=sys.stderr)
        return 2
    x_train, y_train = data.train
    try:
        model, adapt = model_for(args.model, data)
    except ValueError as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    ranks = "" if comm is None else (f"; {comm.size} processes x batch {args.batch_size} = global "
                                     f"batch {comm.size * args.batch_size}")
    if main:
        print(f"{args.model} on {args.dataset}: {len(y_train)} train / {len(data.val[1])} validation / "
              f"{len(data.test[1])} test images of {x_train.shape[1:]}"
              f"{' as RGB' if adapt is not None else ''}, "
              f"{model.num_parameters():,} parameters; {args.optimizer} lr {lr:g}{ranks}", flush=True)

    steps = [augmentation(args.dataset, data.mean, data.std)] if args.augment else []
    transform = D.Compose(steps + [adapt]) if adapt is not None else (steps[0] if steps else None)
    if comm is None:
        train_loader = D.DataLoader(x_train, y_train, args.batch_size, shuffle=True, seed=args.seed,
                                    transform=transform)
        val_loader = D.DataLoader(*data.val, batch_size=512, transform=adapt)
    else:                           # this rank's shards; the same model and first step everywhere
        train_loader = distributed.ShardedLoader(x_train, y_train, args.batch_size, comm,
                                                 shuffle=True, seed=args.seed, transform=transform)
        val_loader = distributed.ShardedLoader(*data.val, batch_size=512, comm=comm, pad=False,
                                               transform=adapt)
        if args.device == "cuda":
            distributed.use_local_gpu(comm)
        if getattr(args, "sync_batchnorm", False):
            model = distributed.convert_sync_batchnorm(model, comm)
        distributed.broadcast(model, comm)
    test_loader = D.DataLoader(*data.test, batch_size=512, transform=adapt)
    optimizer = make_optimizer(args.optimizer, model.parameters(), lr, args.momentum,
                               args.weight_decay)
    if comm is not None:
        optimizer = distributed.DistributedOptimizer(optimizer, comm)
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                 if args.schedule == "cosine" else None)
    checkpoint = out / CHECKPOINT
    found = checkpoint.is_file() if comm is None else comm.bcast_object(checkpoint.is_file())
    if args.resume and not found:
        print(f"train: --resume: no {checkpoint} to continue from", file=sys.stderr)
        return 2
    callbacks = [BestWeights()]
    if args.patience:
        callbacks.append(EarlyStopping(args.patience, restore_best=False))
    try:
        history = fit(model, optimizer, train_loader, val_loader, args.epochs,
                      callbacks=callbacks, scheduler=scheduler, progress=not args.quiet,
                      device=args.device, checkpoint=checkpoint,
                      resume=checkpoint if args.resume else None)
    except KeyboardInterrupt:
        print(f"train: interrupted; {out}'s earlier files are untouched; continue with --resume"
              f"{' (after one finished epoch)' if not checkpoint.is_file() else ''}",
              file=sys.stderr)
        return 130

    if history.restored_epoch is None:
        print(f"training gave no usable weights: {history.stop_reason or 'no finite validation loss'}",
              file=sys.stderr)
        return 1
    if not main:
        return 0
    test = evaluate(model, test_loader, device=args.device)
    describe_run(history, args, lr, data, model, test)
    if comm is not None:
        history.meta.update(world_size=comm.size, global_batch_size=comm.size * args.batch_size)
    write_run(out, model, history, test, data)
    print(f"test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}) on "
          f"{test['num_samples']} test images, with the weights of epoch "
          f"{history.restored_epoch}; wrote {out}/", flush=True)
    return 0


def describe_run(history, args: argparse.Namespace, lr: float, data: D.Prepared, model: nn.Module,
                 test: dict) -> None:
    """The run's facts in history.meta: the command's settings, the classes and preprocessing
    (what evaluate and predict repeat), the parameter count and the test results."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if not callable(v)}
    history.meta.update(
        settings=settings, lr=lr, classes=data.classes, image_shape=list(data.image_shape),
        normalize={"mean": data.mean, "std": data.std}, num_parameters=model.num_parameters(),
        test_loss=test["loss"], test_accuracy=test["accuracy"],
        test_confusion_matrix=test["confusion_matrix"])


def write_run(out: Path, model: nn.Module, history, test: dict, data: D.Prepared) -> None:
    """best.npz (the model's weights: the best epoch's, restored by BestWeights),
    history.json and the four plots, each replacing an earlier run's."""
    out.mkdir(parents=True, exist_ok=True)
    minidl.save(model.state_dict(), out / "best.npz")
    history.save(out / "history.json")
    plot.learning_curves(history, out / "learning_curves.png")
    plot.confusion_matrix(test["confusion_matrix"], data.classes, out / "confusion_matrix.png")
    weights, layer = first_layer_filters(model, data.test[0].shape[1:])
    plot.filter_grid(weights, out / "filters.png", title=f"{layer}: learned filters")
    plot.image_grid(data.test[0], data.test[1], test["predictions"], data.classes,
                    out / "samples.png")
