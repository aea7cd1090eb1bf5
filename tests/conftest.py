"""Test-wide fixtures: tests see no shipped example runs unless they ask for them (``shipped_examples``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

# On pytest-xdist workers (`-n auto`: one a core) each worker and every process it starts (the CLI, servers, Ray)
# computes on one thread: two workers of torch's default thread count each on a 2-core machine oversubscribe it
# (the whole suite took 56 min so, 21 min on one worker). Set before torch is imported by any test module.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


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


@pytest.fixture(scope="session")
def tiny_mnist_tradeoff(tmp_path_factory) -> Path:
    """The reproductions folder of a finished tiny mnist-tradeoff, trained as the command line's default (local)
    engine does, on one thread, and made once for the whole pytest run: the first worker to ask trains it while a
    second one waits (a file lock in the run's shared temporary folder). Read it; copy it before changing it
    (test_reproduce resumes a copy, whose flattened runs still name their base runs by this folder's paths)."""
    from irvae_core.experiments.reproduce import reproduce
    from irvae_core.geometry.curves import intra_op_threads

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    out = shared / "tiny-mnist-tradeoff"
    with open(shared / "tiny-mnist-tradeoff.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "mnist-tradeoff" / "results.json").is_file():
            with intra_op_threads(1):  # as on the workers and in Ray's tasks: the same sums, whoever trains it
                reproduce("mnist-tradeoff", out, "tiny")
    return out


@pytest.fixture(scope="module")
def module_chromium(tmp_path_factory):
    """One headless Chromium for a module's browser tests (``tests.browser.SharedChromium``)."""
    from tests.browser import SharedChromium

    browser = SharedChromium(tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.quit()


@pytest.fixture
def driver(module_chromium):
    """The module's Chromium for one test, on a blank page, 1500 x 1100 pixels; after the test, the cookies and
    storage its pages left are cleared."""
    yield module_chromium.fresh()
    module_chromium.clean()


# Modules that take minutes (real command-line processes, servers, browsers), longest first. With --dist loadfile a
# module runs whole on one worker, and pytest-xdist by default hands out the modules with the most tests first: these
# few-test modules came last and ran alone for the suite's last ~10 minutes while the other worker idled. Started
# first (pyproject's --no-loadscope-reorder keeps the collection order), the other worker meanwhile works through
# the many short modules. The order is the modules' measured time, longest first (the slowest tests of a run are
# listed at its end: --durations).
LONG_MODULES = ("test_load.py", "test_browser.py", "test_engines.py", "test_faults.py", "test_readme_commands.py",
                "test_browser_examples.py", "test_reproduce.py", "test_cli.py", "test_readme_reproduce_commands.py",
                "test_examples.py")


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: every module stays whole, in order


def pytest_configure(config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)

