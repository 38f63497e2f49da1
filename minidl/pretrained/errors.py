"""The checkpoint reader's errors, and ``brief``: a repr for messages about untrusted objects
that costs little whatever the object (a plain ``f"{x!r:.80}"`` builds the whole repr first:
3.2 GB for a 522 kB pickle)."""
from __future__ import annotations

import reprlib

__all__ = ["CheckpointError", "UnsafeCheckpointError", "brief"]


class CheckpointError(ValueError):
    """The file is not a readable PyTorch checkpoint: corrupt, truncated or unsupported."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle asked for a global outside the allow-list (it could run code)."""


class _Brief(reprlib.Repr):
    """reprlib with small limits, and no full repr of big ints or unknown objects."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxtuple, self.maxlist, self.maxdict = 3, 6, 6, 4
        self.maxstring = self.maxother = self.maxlong = 60

    def repr_int(self, x, level):
        if x.bit_length() > 128:
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x, level):
        return repr(x[:40]) + ("..." if len(x) > 40 else "")

    def repr_instance(self, x, level):
        if x is None or isinstance(x, (bool, float)):
            return repr(x)
        return f"<{type(x).__name__}>"


_BRIEF = _Brief()


def brief(x) -> str:
    """A short repr of ``x`` (at most a few hundred characters, built in bounded time)."""
    return _BRIEF.repr(x)
