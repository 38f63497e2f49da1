"""``python -m minidl finetune MODEL --dataset NAME --mode features|head|all``: transfer a pretrained
zoo model to a dataset and write the same run folder as ``train`` (best.npz, history.json, the
four plots), which ``evaluate`` and ``predict`` then read.

    python -m minidl finetune resnet20 --dataset fashion-mnist --mode all --epochs 3 --out runs/r20

The model starts from --weights FILE (any weights file: the original checkpoint, a converted
copy, a run's best.npz), else its published weights (minidl.cli.weights), or from random ones
with --random-init (the "scratch" baseline). Its classifier is replaced by a new Linear for the
dataset's classes (minidl.transfer.replace_head). The modes are minidl.transfer's, as
benchmarks/transfer_modes.py compares them:

  features  the frozen network as a fixed feature extractor: the head's input is computed once
            per image (extract_features), then only the new head is trained on those features
            (a linear classifier; no augmentation, since the features never change)
  head      the body frozen the same way (BatchNorm statistics fixed, --bn), but every batch
            goes through the whole network, so --augment works; only the head learns
  all       every layer learns: the body at --lr, the new head at --lr x --head-lr-mult
            (param_groups: a fresh head needs larger steps than pretrained layers)

In features and head modes the head's rate is also --lr x --head-lr-mult. After every epoch the
state to continue from is saved in --out/checkpoint.npz, and ``--resume`` (same settings)
finishes an interrupted run to the weights an uninterrupted one gives, as ``train --resume``
does. Data and model input as in ``train`` (prepare_data, model_for): ImageNet-sized models get
the images resized batch by batch, which on a CPU is slow -- the CIFAR ResNets are the practical
choice here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import minidl
from minidl import data as D
from minidl import nn, optim
from minidl.cli.numbers import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int
from minidl.cli.train import (CHECKPOINT, DATASETS, DEFAULT_LR, augmentation, describe_run,
                              input_transform, make_optimizer, prepare_data, write_run)
from minidl.cli.weights import model_with_weights
from minidl.models.zoo import ARCHITECTURES, build_model
from minidl.pretrained import WeightsNotFoundError
from minidl.train import BestWeights, EarlyStopping, evaluate, fit
from minidl.transfer import extract_features, freeze, param_groups, replace_head
from minidl.transfer.freeze import BN_POLICIES

MODES = ("features", "head", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=sorted(ARCHITECTURES), help="the pretrained architecture")
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument("--mode", choices=MODES, required=True,
                        help="features: train a head on fixed features; head: only the head "
                             "learns; all: every layer learns")
    parser.add_argument("--weights", type=Path, default=None,
                        help="the weights to start from (default: the published ones)")
    parser.add_argument("--random-init", action="store_true",
                        help="start from random weights instead (the from-scratch baseline)")
    parser.add_argument("--head-lr-mult", type=positive_float, default=10.0,
                        help="the new head's learning rate as a multiple of --lr")
    parser.add_argument("--bn", choices=BN_POLICIES, default="freeze",
                        help="BatchNorm in the frozen body (features, head): statistics fixed "
                             "(freeze), re-estimated (adapt), or fixed with gamma/beta learning (affine)")
    parser.add_argument("--epochs", type=nonnegative_int, default=5)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help=f"the body's learning rate (default: sgd {DEFAULT_LR['sgd']}, adam "
                             f"{DEFAULT_LR['adam']})")
    parser.add_argument("--momentum", type=nonnegative_float, default=0.9, help="SGD momentum")
    parser.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    parser.add_argument("--schedule", choices=("none", "cosine"), default="none")
    parser.add_argument("--patience", type=positive_int, default=None)
    parser.add_argument("--val-fraction", type=fraction, default=0.1)
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use at most N training and N test images (a quick run)")
    parser.add_argument("--augment", action="store_true",
                        help="random shifts (and flips for clothes); not with --mode features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/MODEL-MODE)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --out's checkpoint.npz (same settings; --epochs is "
                             "the total)")


def source_model(args, channels: int) -> tuple[nn.Module, str]:
    """The model to transfer from (eval mode) and where its weights came from."""
    in_channels = channels if ARCHITECTURES[args.model].in_channels is None else None
    if args.random_init:
        return build_model(args.model, None, in_channels).eval(), "random initialisation"
    return model_with_weights(args.model, args.weights, in_channels=in_channels,
                              progress=not args.quiet)


def head_path(model: nn.Module, head: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is head)


def head_features(model, path: str, images, adapt, args):
    """The input of the head at ``path`` for every image: the head is swapped for an Identity
    while the frozen network runs (extract_features stops right there)."""
    owner_path, _, key = path.rpartition(".")
    owner = dict(model.named_modules())[owner_path]
    head, owner._modules[key] = owner._modules[key], nn.Identity()
    try:
        return extract_features(model, path, images, batch_size=256, transform=adapt, flatten=True,
                                device=args.device, progress=not args.quiet)
    finally:
        owner._modules[key] = head


def train_head_on_features(model, head, path, data, adapt, optimizer, scheduler, callbacks, args,
                           checkpoint, resume):
    """Mode features: the fixed features once, then fit() of the head alone on them (its
    checkpoint holds the head alone)."""
    x_train, y_train = data.train
    train_feats = head_features(model, path, x_train, adapt, args)
    val_feats = head_features(model, path, data.val[0], adapt, args)
    return fit(head, optimizer, D.DataLoader(train_feats, y_train, args.batch_size, shuffle=True,
                                             seed=args.seed),
               D.DataLoader(val_feats, data.val[1], batch_size=512), args.epochs,
               callbacks=callbacks, scheduler=scheduler, progress=not args.quiet, device=args.device,
               checkpoint=checkpoint, resume=resume)


def run(args: argparse.Namespace) -> int:
    if args.mode == "features" and args.augment:
        print("finetune: --mode features computes each image's features once, so --augment has "
              "no effect there; use --mode head", file=sys.stderr)
        return 2
    if args.random_init and args.weights is not None:
        print("finetune: --random-init and --weights exclude each other", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else Path("runs") / f"{args.model}-{args.mode}"
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    minidl.manual_seed(args.seed)
    try:
        data = prepare_data(args.dataset, args.model, args.limit, args.seed, args.val_fraction)
        adapt = input_transform(args.model, data.image_shape)
        model, source = source_model(args, data.image_shape[0])
    except WeightsNotFoundError as err:
        print(f"finetune: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:    # no dataset, unreadable or unfitting weights
        print(f"finetune: {err}", file=sys.stderr)
        return 2
    if args.mode in ("features", "head"):
        freeze(model, bn=args.bn)
    head = replace_head(model, len(data.classes))
    path = head_path(model, head)
    groups = ([{"params": list(head.parameters()), "lr": lr * args.head_lr_mult, "name": "head"}]
              if args.mode == "features" else
              param_groups(model, base_lr=lr, head=path, head_lr_mult=args.head_lr_mult))
    optimizer = make_optimizer(args.optimizer, groups, lr, args.momentum, args.weight_decay)
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
                 if args.schedule == "cosine" else None)
    callbacks = [BestWeights()] + ([EarlyStopping(args.patience, restore_best=False)]
                                   if args.patience else [])
    checkpoint = out / CHECKPOINT
    if args.resume and not checkpoint.is_file():
        print(f"finetune: --resume: no {checkpoint} to continue from", file=sys.stderr)
        return 2
    resume = checkpoint if args.resume else None
    print(f"{args.model} from {source} on {args.dataset}, mode {args.mode}: "
          f"{len(data.train[1])} train / {len(data.val[1])} validation / {len(data.test[1])} test "
          f"images; {model.num_parameters(trainable_only=True):,} of {model.num_parameters():,} "
          f"parameters learn; head '{path}' at lr {lr * args.head_lr_mult:g}", flush=True)
    try:
        if args.mode == "features":
            history = train_head_on_features(model, head, path, data, adapt, optimizer, scheduler,
                                             callbacks, args, checkpoint, resume)
        else:
            steps = [augmentation(args.dataset, data.mean, data.std)] if args.augment else []
            transform = D.Compose(steps + ([adapt] if adapt is not None else [])) if steps else adapt
            history = fit(model, optimizer,
                          D.DataLoader(*data.train, args.batch_size, shuffle=True, seed=args.seed,
                                       transform=transform),
                          D.DataLoader(*data.val, batch_size=512, transform=adapt), args.epochs,
                          callbacks=callbacks, scheduler=scheduler, progress=not args.quiet,
                          device=args.device, checkpoint=checkpoint, resume=resume)
    except KeyboardInterrupt:
        print(f"finetune: interrupted; {out}'s earlier files are untouched; continue with --resume"
              f"{' (after one finished epoch)' if not checkpoint.is_file() else ''}", file=sys.stderr)
        return 130
    if history.restored_epoch is None:
        print(f"finetune gave no usable weights: {history.stop_reason or 'no finite validation loss'}",
              file=sys.stderr)
        return 1
    test = evaluate(model, D.DataLoader(*data.test, batch_size=512, transform=adapt), device=args.device)
    describe_run(history, args, lr, data, model, test)
    history.meta.update(mode=args.mode, source=source, head=path, head_lr=lr * args.head_lr_mult,
                        trainable_parameters=model.num_parameters(trainable_only=True))
    write_run(out, model, history, test, data)
    print(f"test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}) on "
          f"{test['num_samples']} test images, with the weights of epoch "
          f"{history.restored_epoch}; wrote {out}/", flush=True)
    return 0
