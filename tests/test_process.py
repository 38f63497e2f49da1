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


def test_no_openmp_setting_is_made():
    """minidl's kernels never start an OpenMP pool, so it leaves torch's OpenMP runtime as it is."""
    assert probe()[2] == "None"
    assert probe(OMP_WAIT_POLICY="ACTIVE")[2] == "ACTIVE"


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


TIMEOUT_PROBE = """
import sys
import numpy as np
np.ones((256, 256)) @ np.ones((256, 256))       # OpenBLAS's threads start, before minidl
from threadpoolctl import ThreadpoolController
lib = ThreadpoolController().select(internal_api="openblas").lib_controllers[0].dynlib
before = lib.openblas_thread_timeout()
import minidl
from minidl import process
product = (np.ones((256, 256)) @ np.ones((256, 256)))[0, 0]   # threads start again, and work
print(before, lib.openblas_thread_timeout(), process.OPENBLAS_RESTARTED, product)
"""


def test_numpy_imported_first_still_gets_openblas_threads_that_sleep_at_once():
    """OpenBLAS read its environment when NumPy loaded it (no timeout set: 0); importing minidl
    afterwards makes it read the short timeout (4) and restart its threads, which still compute."""
    pytest.importorskip("threadpoolctl")
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "MINIDL_PROCESS_DEFAULTS")}
    out = subprocess.run([sys.executable, "-c", TIMEOUT_PROBE], env=clean, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", "4", "True", "256.0"]
    off = subprocess.run([sys.executable, "-c", TIMEOUT_PROBE], env={**clean, "MINIDL_PROCESS_DEFAULTS": "0"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert off == ["0", "0", "False", "256.0"]
