"""The process settings import minidl makes (minidl/process.py), each in a fresh interpreter."""
import os
import subprocess
import sys

import pytest

from minidl import process

PROBE = """
import resource, numpy as np, minidl, os
from minidl import process
faults = []
for _ in range(5):                          # a training step's pattern: allocate, fill, free
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(16 << 20, np.float32)           # 64 MB
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(process.ENABLED, process.KEEPS_LARGE_BUFFERS, os.environ.get("OMP_WAIT_POLICY"), sum(faults[1:]))
"""


def probe(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "MINIDL_PROCESS_DEFAULTS", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", out[1] == "True", out[2], int(out[3])


def test_thread_pools_sleep_at_once_unless_the_user_says_otherwise():
    assert probe()[2] == "PASSIVE"
    assert probe(OMP_WAIT_POLICY="ACTIVE")[2] == "ACTIVE"
    assert probe(MINIDL_PROCESS_DEFAULTS="0")[2] == "None"


@pytest.mark.skipif(not process.KEEPS_LARGE_BUFFERS, reason="needs glibc's mallopt (Linux)")
def test_a_freed_large_buffer_is_reused_without_page_faults():
    enabled, kept, _, faults = probe()
    off_enabled, off_kept, _, fresh_faults = probe(MINIDL_PROCESS_DEFAULTS="0")
    assert (enabled, kept, off_enabled, off_kept) == (True, True, False, False)
    # 4 repeats of 64 MB: with the block kept, almost no new pages; without, at least one fault
    # per 2 MB huge page (16384 per repeat with 4 kB pages).
    assert faults < 16 and fresh_faults >= 4 * 32, (faults, fresh_faults)


def test_a_users_own_malloc_tuning_wins():
    assert probe(MALLOC_MMAP_THRESHOLD_="131072")[1] is False
