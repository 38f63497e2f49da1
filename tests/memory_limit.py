"""Run a snippet in a child process whose address space may grow by at most ``megabytes`` past
what Python, NumPy and minidl take after import (``resource.setrlimit(RLIMIT_AS)``), to prove
that a loader's memory stays bounded on a hostile file."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

_PRELUDE = """
import resource, sys
import numpy, minidl, minidl.pretrained, minidl.data
def _vm():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
_limit = _vm() + {extra}
resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
"""


def run_limited(code: str, megabytes: int, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` (after the imports above) under the limit; returns the finished process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    script = _PRELUDE.format(extra=megabytes << 20) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=env)
