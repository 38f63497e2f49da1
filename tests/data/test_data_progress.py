"""ProgressBar: line-per-~10% in logs, in-place redraw on terminals, rate/ETA/postfix text."""
import io

import pytest

from minidl.progress import ProgressBar, track


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_log_output_prints_one_line_per_ten_percent():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(200, "train", file=out, clock=clock)
    for _ in range(200):
        clock.now += 0.01
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # 10%, 20%, ..., 100%; close() does not repeat the last one
    assert [line.split()[1] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]
    assert "\r" not in out.getvalue()


def test_log_output_also_prints_after_log_every_seconds():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(1000, "slow", file=out, clock=clock, log_every=5.0)
    bar.update(1)  # 0.1%: neither a new 10% nor 5 s
    assert out.getvalue() == ""
    clock.now = 5.0
    bar.update(1)
    assert out.getvalue().count("\n") == 1 and "2/1000" in out.getvalue()


def test_unknown_total_prints_only_on_time_and_close():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(None, "stream", file=out, clock=clock, log_every=10.0)
    for _ in range(50):
        bar.update(3)
    assert out.getvalue() == ""
    bar.close()
    assert out.getvalue().startswith("stream: 150 [")


def test_text_shows_count_rate_eta_and_postfix():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(100, "epoch 1", file=out, clock=clock)
    clock.now = 2.0
    bar.update(50, loss=0.123456, acc=0.91, step=7)
    line = out.getvalue().strip()
    # 50 steps in 2 s = 25/s; 50 left at 25/s = 2 s
    assert line == "epoch 1:  50% 50/100 [00:02<00:02, 25.0it/s] loss=0.1235 acc=0.91 step=7"


def test_postfix_values_persist_until_replaced():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(10, file=out, clock=clock)
    bar.update(1, loss=2.0, acc=0.5)
    bar.update(1, loss=1.0)
    assert out.getvalue().splitlines()[-1].endswith("loss=1 acc=0.5")


def test_bytes_use_binary_prefixes():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(4 * 1024 * 1024, "file.gz", unit="B", file=out, clock=clock)
    clock.now = 1.0
    bar.update(1024 * 1024)
    assert "1.0MiB/4.0MiB" in out.getvalue() and "1.0MiB/s" in out.getvalue()


def test_tty_redraws_in_place_and_ends_line_on_close():
    out, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(5, "x", file=out, clock=clock)
    for _ in range(5):
        clock.now += 1.0
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 6  # five redraws and the final one
    assert text.rstrip("\n").split("\r")[-1].startswith("x: 100% 5/5")


def test_tty_redraw_pads_over_a_longer_previous_line():
    out, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(2, file=out, clock=clock)
    clock.now = 1.0
    bar.update(1, note="a long postfix value")
    clock.now = 2.0
    bar.postfix.clear()
    bar.update(1)
    first, second = out.getvalue().split("\r")[1:3]
    assert len(second) == len(first)


def test_disable_prints_nothing_but_counts():
    out = io.StringIO()
    bar = ProgressBar(3, file=out, disable=True)
    bar.update(3)
    bar.close()
    assert out.getvalue() == "" and bar.count == 3


def test_update_after_close_is_an_error():
    bar = ProgressBar(3, "done", file=io.StringIO())
    bar.close()
    with pytest.raises(RuntimeError, match="already closed"):
        bar.update(1)


def test_negative_total_rejected():
    with pytest.raises(ValueError, match="total"):
        ProgressBar(-1)


def test_track_yields_every_item_and_reports_the_total():
    out = io.StringIO()
    items = list(track(range(7), "loop", file=out))
    assert items == list(range(7))
    assert out.getvalue().splitlines()[-1].startswith("loop: 100% 7/7")
