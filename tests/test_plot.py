"""Plots write real PNGs whose pixels depend on the data drawn (not merely 'it ran')."""
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import imread

from minidl import plot
from minidl.train import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def history(val_losses, train_scale=1.0):
    epochs = [{"epoch": i + 1, "train_loss": train_scale / (i + 1), "train_acc": 0.5 + 0.1 * i,
               "val_loss": v, "val_acc": 0.4 + 0.1 * i, "lr": 0.1, "seconds": 1.0}
              for i, v in enumerate(val_losses)]
    return History(iteration_loss=list(np.linspace(2.0, 0.2, 4 * len(epochs))), epochs=epochs)


def pixels(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    return imread(path)


def assert_differ(path_a, path_b):
    a, b = pixels(path_a), pixels(path_b)
    assert a.shape != b.shape or not np.array_equal(a, b)


def count_color(image, color, tol=0.08):
    """Pixels within tol of an RGB colour."""
    return int(np.sum(np.all(np.abs(image[..., :3] - np.array(to_rgb(color))) < tol, axis=-1)))


def test_learning_curves_png_depends_on_the_history(tmp_path):
    fig = plot.learning_curves(history([1.0, 0.8, 0.9]), tmp_path / "a.png")
    assert isinstance(fig, Figure)
    plot.learning_curves(history([1.0, 0.6, 0.3]), tmp_path / "b.png")
    assert_differ(tmp_path / "a.png", tmp_path / "b.png")
    # the dict form (history.json) draws the same picture as the History
    plot.learning_curves(history([1.0, 0.8, 0.9]).to_dict(), tmp_path / "c.png")
    np.testing.assert_array_equal(pixels(tmp_path / "a.png"), pixels(tmp_path / "c.png"))


def test_learning_curves_without_validation(tmp_path):
    h = history([None, None])
    for e in h.epochs:
        e["val_acc"] = None
    plot.learning_curves(h, tmp_path / "train_only.png")
    plot.learning_curves(history([1.0, 0.5]), tmp_path / "with_val.png")
    # validation is drawn in orange: present only in the second picture
    assert count_color(pixels(tmp_path / "train_only.png"), "tab:orange") == 0
    assert count_color(pixels(tmp_path / "with_val.png"), "tab:orange") > 50


def test_compare_runs_draws_one_line_per_run(tmp_path):
    plot.compare_runs({"lr=0.1": history([1.0, 0.8]), "lr=0.01": history([1.2, 1.1])},
                      tmp_path / "two.png")
    plot.compare_runs({"lr=0.1": history([1.0, 0.8])}, tmp_path / "one.png")
    assert count_color(pixels(tmp_path / "two.png"), "C1") > 50     # the second run's colour
    assert count_color(pixels(tmp_path / "one.png"), "C1") == 0
    with pytest.raises(ValueError, match="no runs"):
        plot.compare_runs({})


def test_confusion_matrix_png_depends_on_the_counts(tmp_path):
    names = ["cat", "dog", "bird"]
    plot.confusion_matrix(np.diag([10, 10, 10]), names, tmp_path / "perfect.png")
    plot.confusion_matrix(np.full((3, 3), 10), names, tmp_path / "chance.png")
    assert_differ(tmp_path / "perfect.png", tmp_path / "chance.png")
    with pytest.raises(ValueError, match="square"):
        plot.confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 class names"):
        plot.confusion_matrix(np.eye(3), ["a", "b"])


@pytest.mark.parametrize("shape", [(8, 1, 5, 5), (4, 3, 3, 3), (6, 4, 3, 3)],
                         ids=["gray", "rgb", "multichannel"])
def test_filter_grid_png_depends_on_the_weights(tmp_path, shape):
    rng = np.random.default_rng(0)
    plot.filter_grid(rng.normal(size=shape), tmp_path / "a.png")
    plot.filter_grid(rng.normal(size=shape), tmp_path / "b.png")
    assert_differ(tmp_path / "a.png", tmp_path / "b.png")


def test_filter_grid_rejects_non_conv_weights():
    with pytest.raises(ValueError, match=r"\(F, C, kh, kw\).*\(3, 4\)"):
        plot.filter_grid(np.zeros((3, 4)))


def test_image_grid_marks_mistakes_in_red(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((6, 1, 8, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    plot.image_grid(images, labels, labels, ["a", "b", "c"], tmp_path / "right.png")
    wrong = labels.copy()
    wrong[[1, 4]] = 0
    plot.image_grid(images, labels, wrong, ["a", "b", "c"], tmp_path / "wrong.png")
    right_img, wrong_img = pixels(tmp_path / "right.png"), pixels(tmp_path / "wrong.png")
    assert count_color(right_img, plot.WRONG_COLOR) == 0
    assert count_color(wrong_img, plot.WRONG_COLOR) > 100      # two red frames and titles
    assert count_color(right_img, plot.RIGHT_COLOR) > count_color(wrong_img, plot.RIGHT_COLOR)


def test_image_grid_accepts_channel_last_and_checks_lengths(tmp_path):
    rng = np.random.default_rng(1)
    plot.image_grid(rng.random((3, 8, 8, 3)), [0, 1, 2], path=tmp_path / "rgb.png")
    plot.image_grid(rng.random((3, 8, 8)), [0, 1, 2], path=tmp_path / "gray.png")
    assert_differ(tmp_path / "rgb.png", tmp_path / "gray.png")
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        plot.image_grid(rng.random((3, 8, 8)), [0, 1])
    with pytest.raises(ValueError, match="C = 1 or 3"):
        plot.image_grid(rng.random((3, 2, 8, 8)))
