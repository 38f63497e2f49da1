"""The training loop's epochs watched from a test: Ctrl-C in one of them, or the list of those
run. ``patch`` is a monkeypatch (or one of its contexts), which puts train_epoch back."""
import minidl.train.loop as loop


def _epoch(args, kwargs) -> int:
    return kwargs.get("epoch", args[7] if len(args) > 7 else 1)     # train_epoch's 8th argument


def interrupt_in_epoch(patch, at: int) -> None:
    """KeyboardInterrupt as epoch ``at`` starts."""
    real = loop.train_epoch

    def train_epoch(*args, **kwargs):
        if _epoch(args, kwargs) == at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    patch.setattr(loop, "train_epoch", train_epoch)


def record_epochs(patch) -> list[int]:
    """The epochs run from now on, in order (the list fills as they run)."""
    real, run = loop.train_epoch, []

    def train_epoch(*args, **kwargs):
        run.append(_epoch(args, kwargs))
        return real(*args, **kwargs)
    patch.setattr(loop, "train_epoch", train_epoch)
    return run
