"""Plots for training runs: learning curves, run comparisons, confusion matrices, conv filters
and labelled image grids.

Every function returns a matplotlib Figure and, when `path` is given, also saves it as a PNG.
Figures are built without pyplot (matplotlib.figure.Figure renders with Agg), so this works on
a headless machine and never changes the global backend; in a notebook the returned Figure
displays itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import backend

WRONG_COLOR = "tab:red"
RIGHT_COLOR = "tab:green"


def _finish(fig: Figure, path) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi, format="png")
    return fig


def _as_history(history):
    """A History, or a dict in History.to_dict() form, as (epochs records, iteration losses)."""
    if hasattr(history, "epochs") and hasattr(history, "iteration_loss"):
        return history.epochs, history.iteration_loss
    if isinstance(history, dict) and "epochs" in history:
        return history["epochs"], history.get("iteration_loss", [])
    raise TypeError(f"plot: expected a History (or its to_dict()), got {type(history).__name__}")


def _column(epochs, key):
    """(epoch numbers, values) of one per-epoch field, skipping epochs where it is None."""
    pairs = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def learning_curves(history, path=None, title: str | None = None) -> Figure:
    """Loss (left) and accuracy (right) per epoch, training vs validation.

    The left panel also draws every mini-batch's loss faintly (x in fractional epochs), and a
    dotted line marks the epoch with the lowest validation loss.
    """
    epochs, iteration_loss = _as_history(history)
    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    if iteration_loss and epochs:
        x = np.arange(1, len(iteration_loss) + 1) * (len(epochs) / len(iteration_loss))
        ax_loss.plot(x, iteration_loss, color="tab:blue", alpha=0.25, linewidth=0.8,
                     label="train (per batch)")
    for ax, metric, name in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, color in (("train", "tab:blue"), ("val", "tab:orange")):
            xs, ys = _column(epochs, f"{split}_{metric}")
            if xs:
                ax.plot(xs, ys, "o-", color=color, label=f"{split} (epoch)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    xs, ys = _column(epochs, "val_loss")
    if xs:
        best = xs[int(np.argmin(ys))]
        for ax in (ax_loss, ax_acc):
            ax.axvline(best, color="gray", linestyle=":", label=f"best val loss (epoch {best})")
    for ax in (ax_loss, ax_acc):
        if ax.has_data():
            ax.legend(fontsize="small")
    ax_loss.set_title("loss")
    ax_acc.set_title("accuracy")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def compare_runs(runs: dict, path=None, title: str | None = None) -> Figure:
    """Several runs on one chart, e.g. a learning-rate sweep {"lr=0.1": history, ...}.

    Left: validation loss per epoch (training loss where a run has no validation); right:
    validation accuracy (or training accuracy). Solid lines are validation, dashed training.
    """
    if not runs:
        raise ValueError("compare_runs: got no runs")
    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    for (label, history), color in zip(runs.items(), colors):
        epochs, _ = _as_history(history)
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            xs, ys = _column(epochs, f"val_{metric}")
            style, split = "o-", "val"
            if not xs:
                xs, ys = _column(epochs, f"train_{metric}")
                style, split = "o--", "train"
            if xs:
                ax.plot(xs, ys, style, color=color, label=f"{label} ({split})")
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def confusion_matrix(cm, class_names=None, path=None, title: str | None = None) -> Figure:
    """cm (K, K) counts, rows = true class, columns = predicted class (as evaluate() returns).

    Colours show each row's fraction (so rare classes are as visible as common ones); every
    cell is labelled with its count (zeros in light gray). The title gives the overall accuracy.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion_matrix: expected a square (K, K) array, got shape {cm.shape}")
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"confusion_matrix: {len(names)} class names for a {k}x{k} matrix")
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.0, 0.55 * k + 2)
    fig = Figure(figsize=(size + 1, size), dpi=100, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    for i in range(k):
        for j in range(k):
            color = "white" if frac[i, j] > 0.5 else ("black" if cm[i, j] else "lightgray")
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = cm.sum()
    accuracy = np.trace(cm) / total if total else float("nan")
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.2%}, N={int(total)})")
    return _finish(fig, path)


def _mosaic(tiles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """tiles (T, h, w[, 3]) laid out row by row in a (rows, cols) grid with a 1-pixel NaN
    border around each tile (drawn as background) -> (rows*(h+1)+1, cols*(w+1)+1[, 3])."""
    t, h, w = tiles.shape[:3]
    out = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, *tiles.shape[3:]), np.nan)
    for i in range(t):
        r, c = divmod(i, cols)
        out[1 + r * (h + 1):(r + 1) * (h + 1), 1 + c * (w + 1):(c + 1) * (w + 1)] = tiles[i]
    return out


def filter_grid(weight, path=None, title: str | None = None, max_filters: int = 64,
                max_channels: int = 16) -> Figure:
    """Show conv filters, weight (F, C, kh, kw) (e.g. model.features[0].weight), as one mosaic.

    C = 3: one RGB tile per filter (each rescaled to [0, 1]), left to right, top to bottom.
    C = 1: one tile per filter, in the same order; other C: a row per filter and a column per
    input channel. Gray or multi-channel filters use a blue-white-red scale centred on 0, each
    filter scaled by its own largest |weight| (red positive, blue negative). At most
    max_filters filters and max_channels channels are drawn.
    """
    w = backend.to_device(getattr(weight, "data", weight), "cpu")
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"filter_grid: expected conv weights (F, C, kh, kw), got shape {w.shape}")
    w = w[:max_filters, :max_channels]
    f, c, kh, kw = w.shape
    if c == 3:
        tiles = w.transpose(0, 2, 3, 1)
        lo = tiles.min(axis=(1, 2, 3), keepdims=True)
        span = tiles.max(axis=(1, 2, 3), keepdims=True) - lo
        tiles = np.divide(tiles - lo, span, out=np.zeros_like(tiles), where=span > 0)
    else:
        limit = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
        scaled = np.divide(w, limit, out=np.zeros_like(w), where=limit > 0)
        tiles = scaled[:, 0] if c == 1 else scaled.reshape(f * c, kh, kw)
    if c in (1, 3):
        cols = min(8, f)
        rows = -(-f // cols)
    else:
        rows, cols = f, c
    image = _mosaic(tiles, rows, cols)
    width = float(np.clip(image.shape[1] * 0.15, 4.0, 10.0))       # inches
    height = image.shape[0] * width / image.shape[1] + 0.8
    fig = Figure(figsize=(width, min(height, 16.0)), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("0.85")                  # the NaN borders between tiles
    if c == 3:
        ax.imshow(np.where(np.isnan(image), 0.85, image), interpolation="nearest")
    else:
        ax.imshow(image, cmap="bwr", vmin=-1, vmax=1, interpolation="nearest")
    if c in (1, 3):
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xticks(1 + (kw + 1) * np.arange(c) + (kw - 1) / 2, range(c), fontsize=6)
        ax.set_yticks(1 + (kh + 1) * np.arange(f) + (kh - 1) / 2, range(f), fontsize=6)
        ax.set_xlabel("input channel")
        ax.set_ylabel("filter")
    fig.suptitle(title or f"{f} filters of shape {(c, kh, kw)}")
    return _finish(fig, path)


def _to_hw(images) -> np.ndarray:
    """images (N, H, W), (N, 1|3, H, W) or (N, H, W, 1|3) as (N, H, W) or (N, H, W, 3)."""
    x = np.asarray(backend.to_device(getattr(images, "data", images), "cpu"))
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"image_grid: expected images (N, H, W), (N, C, H, W) or (N, H, W, C) "
                         f"with C = 1 or 3, got shape {np.shape(images)}")
    return x


def image_grid(images, labels=None, predictions=None, class_names=None, path=None,
               ncols: int = 8, max_images: int = 32, title: str | None = None) -> Figure:
    """A grid of images titled with their labels. With predictions, each title is the predicted
    class, in green when right; a wrong one is red, adds "(true: label)" and gets a red frame.
    Each image is rescaled to its own min..max for display."""
    x = _to_hw(images)[:max_images]
    n = len(x)
    if n == 0:
        raise ValueError("image_grid: got no images")
    for name, arr in (("labels", labels), ("predictions", predictions)):
        if arr is not None and len(arr) < n:
            raise ValueError(f"image_grid: {len(arr)} {name} for {n} images")

    def name_of(k):
        k = int(k)
        return class_names[k] if class_names is not None else str(k)

    cols = min(ncols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(1.5 * cols, 1.7 * rows + 0.4), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    wrong_count = 0
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        img = x[i].astype(np.float64)
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        color, text = "black", None
        if predictions is not None:
            wrong = labels is not None and int(predictions[i]) != int(labels[i])
            wrong_count += wrong
            color = WRONG_COLOR if wrong else (RIGHT_COLOR if labels is not None else "black")
            text = name_of(predictions[i])
            if wrong:
                text += f"\n(true: {name_of(labels[i])})"
                for spine in ax.spines.values():
                    spine.set_edgecolor(WRONG_COLOR)
                    spine.set_linewidth(3)
        elif labels is not None:
            text = name_of(labels[i])
        if text:
            ax.set_title(text, fontsize=7, color=color)
    if title is None and predictions is not None and labels is not None:
        title = f"predicted class: {wrong_count} of {n} wrong (red)"
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
