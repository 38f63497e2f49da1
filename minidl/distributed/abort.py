"""A rank that fails takes the job down, with its own error, instead of leaving the others
waiting for it in a collective for ever.

    comm = minidl.distributed.init()        # installs the hook under mpiexec (size > 1)
    with abort_on_error(comm):              # for code that catches errors further out (the CLI)
        ...

Either way the failing rank prints ``minidl.distributed: rank R of S failed`` and its traceback
on stderr, then calls MPI_Abort: mpiexec ends every rank and exits non-zero.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import traceback

__all__ = ["abort_on_error", "install_abort_hook", "report_and_abort"]


def report_and_abort(comm, exc_type, exc, tb, code: int = 1) -> None:
    """Print this rank's error (with its rank) on stderr, flush, and abort the whole job."""
    try:
        sys.stdout.flush()
        lines = traceback.format_exception(exc_type, exc, tb)
        sys.stderr.write(f"minidl.distributed: rank {comm.rank} of {comm.size} failed; ending "
                         f"the job (MPI_Abort)\n" + "".join(lines))
        sys.stderr.flush()
    finally:
        comm.abort(code)


def install_abort_hook(comm) -> None:
    """sys.excepthook (and threading.excepthook) that report the error and abort the job.
    Installed once per process; a job of one rank keeps Python's own hooks."""
    if comm.size <= 1 or getattr(sys.excepthook, "minidl_abort", False):
        return
    original = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, SystemExit):       # sys.exit() inside an uncaught thread, say
            return original(exc_type, exc, tb)
        report_and_abort(comm, exc_type, exc, tb, 130 if issubclass(exc_type, KeyboardInterrupt) else 1)

    def thread_hook(args):
        report_and_abort(comm, args.exc_type, args.exc_value, args.exc_traceback)

    hook.minidl_abort = True
    sys.excepthook = hook
    threading.excepthook = thread_hook


@contextlib.contextmanager
def abort_on_error(comm):
    """Inside: an exception on one rank of several aborts the job (reported first). SystemExit
    with a non-zero status does too: one rank that gives up must not leave the others waiting.
    A job of one rank sees its exceptions as usual."""
    if comm.size <= 1:
        yield
        return
    try:
        yield
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            report_and_abort(comm, type(exit_), exit_, exit_.__traceback__,
                             exit_.code if isinstance(exit_.code, int) else 1)
        raise
    except BaseException as err:                    # KeyboardInterrupt too
        report_and_abort(comm, type(err), err, err.__traceback__,
                         130 if isinstance(err, KeyboardInterrupt) else 1)
