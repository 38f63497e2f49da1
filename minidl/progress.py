"""A small progress bar for downloads and training loops.

On a terminal it redraws one line in place with ``\\r``. In a log that is not a terminal (CI,
a file, a notebook's captured stderr) it prints a fresh line only when another ~10% is done
or ``log_every`` seconds have passed, so the log stays readable.

    bar = ProgressBar(len(loader), desc="epoch 1")
    for x, y in loader:
        ...
        bar.update(1, loss=loss, acc=acc)
    bar.close()

prints lines such as ``epoch 1:  40% 94/235 [00:03<00:05, 27.1it/s] loss=0.4312 acc=0.8457``.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")

_BINARY_PREFIXES = ("", "Ki", "Mi", "Gi", "Ti")


def format_seconds(seconds: float) -> str:
    """Seconds as MM:SS, or H:MM:SS from an hour on (rounded to whole seconds): 75 -> '01:15'."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _format_amount(value: float, unit: str) -> str:
    """Counts as integers; bytes (unit 'B') with binary prefixes: 1.5MiB."""
    if unit != "B":
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    prefix = 0
    while abs(value) >= 1024 and prefix < len(_BINARY_PREFIXES) - 1:
        value /= 1024
        prefix += 1
    return f"{value:.0f}B" if prefix == 0 else f"{value:.1f}{_BINARY_PREFIXES[prefix]}B"


def _format_postfix(postfix: dict) -> str:
    parts = []
    for key, value in postfix.items():
        if isinstance(value, float) or getattr(value, "ndim", None) == 0:  # also numpy scalars
            parts.append(f"{key}={float(value):.4g}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


class ProgressBar:
    """Progress of ``total`` steps (None when unknown), shown on ``file`` (stderr by default).

    update(n, **postfix) advances by n and remembers the latest postfix values (loss=...);
    close() prints the final state and ends the line. Usable as a context manager.
    """

    def __init__(self, total: int | None = None, desc: str = "", *, unit: str = "it",
                 file: TextIO | None = None, log_every: float = 30.0, percent_step: float = 10.0,
                 disable: bool = False, clock: Callable[[], float] = time.monotonic):
        if total is not None and total < 0:
            raise ValueError(f"ProgressBar: total must be >= 0 or None, got {total}")
        self.total = total
        self.desc = desc
        self.unit = unit
        self.file = file if file is not None else sys.stderr
        self.log_every = log_every
        self.percent_step = percent_step
        self.disable = disable
        self.clock = clock
        isatty = getattr(self.file, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.count = 0
        self.postfix: dict = {}
        self.closed = False
        self._start = clock()
        self._last_print_time = self._start
        self._last_print_count = 0
        self._last_bucket = 0
        self._last_width = 0

    # -- text ---------------------------------------------------------------------------
    def format(self) -> str:
        """The current state as one line, without a line ending."""
        elapsed = self.clock() - self._start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        head = f"{self.desc}: " if self.desc else ""
        amount = _format_amount(self.count, self.unit)
        if self.total:
            percent = 100.0 * self.count / self.total
            left = (self.total - self.count) / rate if rate > 0 else None
            eta = format_seconds(left) if left is not None else "?"
            text = (f"{head}{percent:3.0f}% {amount}/{_format_amount(self.total, self.unit)} "
                    f"[{format_seconds(elapsed)}<{eta}, ")
        else:
            text = f"{head}{amount} [{format_seconds(elapsed)}, "
        text += f"{_format_amount(rate, 'B')}/s]" if self.unit == "B" else f"{rate:.1f}{self.unit}/s]"
        if self.postfix:
            text += " " + _format_postfix(self.postfix)
        return text

    def _write(self, final: bool = False) -> None:
        line = self.format()
        if self.interactive:
            pad = " " * max(0, self._last_width - len(line))
            self.file.write("\r" + line + pad + ("\n" if final else ""))
            self._last_width = len(line)
        else:
            self.file.write(line + "\n")
        self.file.flush()
        self._last_print_time = self.clock()
        self._last_print_count = self.count

    # -- updates ------------------------------------------------------------------------
    def update(self, n: int = 1, **postfix) -> None:
        """Advance by n steps (or bytes); keyword arguments replace the shown postfix values."""
        if self.closed:
            raise RuntimeError(f"ProgressBar({self.desc!r}).update: the bar is already closed")
        self.count += n
        self.postfix.update(postfix)
        if self.disable:
            return
        now = self.clock()
        if self.interactive:
            due = now - self._last_print_time >= 0.1 or self.count == self.total
        else:
            due = now - self._last_print_time >= self.log_every
            if self.total:
                bucket = int(100.0 * self.count / self.total // self.percent_step)
                due = due or bucket > self._last_bucket
                self._last_bucket = max(self._last_bucket, bucket)
        if due:
            self._write()

    def close(self) -> None:
        """Print the final state (unless already shown) and end the line. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.disable:
            return
        if self.interactive or self.count != self._last_print_count or self.count == 0:
            self._write(final=True)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterator[T]:
    """Yield from iterable while showing a ProgressBar (total from len() when available)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with ProgressBar(total, desc, **kwargs) as bar:
        for item in iterable:
            yield item
            bar.update(1)
