"""A pytest plugin for the mutation audit: ``MINIDL_MUTANT=<id> pytest -p minidl.exercises.mutant_plugin``
runs the tests with that mutant installed before any test starts. Hypothesis does not shrink a
failing case here: the audit needs only whether a test fails, and shrinking gradchecks is slow."""
from __future__ import annotations

import os

from . import mutants


def pytest_configure(config):
    """After the initial conftest loaded its hypothesis profile, before any test module (whose
    @settings copy the profile then in force) is imported."""
    from hypothesis import Phase, settings

    settings.register_profile("mutant-audit", parent=settings.default,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.load_profile("mutant-audit")
    mutant_id = os.environ.get("MINIDL_MUTANT")
    if mutant_id:
        mutants.apply(mutants.by_id(mutant_id))


def pytest_report_header(config):
    return f"minidl mutant: {os.environ.get('MINIDL_MUTANT') or 'none'}"
