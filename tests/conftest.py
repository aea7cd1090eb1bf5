"""Test-wide fixtures: tests see no shipped example runs unless they ask for them (``shipped_examples``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_shipped_examples(request, tmp_path_factory, monkeypatch):
    """Pages list examples beside the user's runs; a test of a runs folder sees only that folder."""
    if "shipped_examples" not in request.fixturenames:
        monkeypatch.setenv("IRVAE_EXAMPLES", str(tmp_path_factory.mktemp("no-examples")))


@pytest.fixture
def shipped_examples(monkeypatch) -> Path:
    """The repository's examples/ folder (the shipped example runs)."""
    from irvae_core.experiments.examples import examples_dir

    monkeypatch.delenv("IRVAE_EXAMPLES", raising=False)
    return examples_dir()
