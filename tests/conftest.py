"""Shared test settings: hypothesis profiles, the GPU marker's skip, and the network cut off
from the published weights."""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config, items):
    from minidl.backend import cuda_available
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU (none found)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def without_published_weights(tmp_path, monkeypatch):
    """cut(weights) hides every copy of the published ResNet-20 but what the folder ``weights``
    holds (MINIDL_WEIGHTS; None: unset): no shared folder, an empty cache, and its URL a port
    that refuses connections (the network absent)."""
    from minidl.pretrained import PRETRAINED, locate

    def cut(weights=None):
        monkeypatch.setattr(locate, "SHARED_DIR", tmp_path / "no-shared")
        monkeypatch.setenv("MINIDL_CACHE", str(tmp_path / "cache"))
        if weights is None:
            monkeypatch.delenv("MINIDL_WEIGHTS", raising=False)
        else:
            monkeypatch.setenv("MINIDL_WEIGHTS", str(weights))
        entry = PRETRAINED["resnet20"]
        monkeypatch.setitem(PRETRAINED, "resnet20", entry._replace(url="http://127.0.0.1:9/" + entry.file))
    return cut
