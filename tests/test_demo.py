"""Demo mode (IRVAE_DEMO=1, ./lab app --demo): visitors look, nothing trains, nothing reads server folders.

Enforced in the core (the job manager, the data-folder check, the suite's writer) and shown in the app: a
banner on every page, no buttons that would be refused."""

import time
from pathlib import Path

import pytest

from irvae_core.data.roots import allowed_data_folder
from irvae_core.demo import BANNER, DemoRefused, demo_mode
from irvae_core.experiments.jobs import JobManager
from irvae_core.store.runs import list_runs
from irvae_core.views.distances import compute_suite
from tests.app_helpers import open_page
from tests.helpers import tiny_config
from tests.test_safety import lab_app, wait_listening

pytestmark = pytest.mark.slow  # a real server and AppTest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("IRVAE_DEMO", "1")
    assert demo_mode()


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("on", True), ("0", False), ("", False)])
def test_demo_mode_is_read_from_the_environment(monkeypatch, value, on):
    monkeypatch.setenv("IRVAE_DEMO", value)
    assert demo_mode() is on


def test_the_job_manager_refuses_every_write_in_demo_mode_and_creates_nothing(tmp_path, monkeypatch):
    jm = JobManager(tmp_path / "runs")
    job = jm.submit_train(tiny_config(**{"train.epochs": 1}))  # before the demo: a real job, to cancel below
    jm.wait(job, timeout=300)
    done = list_runs(tmp_path / "runs")
    monkeypatch.setenv("IRVAE_DEMO", "1")
    refusals = {
        "start training": lambda: jm.submit_train(tiny_config()),
        "start a sweep": lambda: jm.submit_sweep(tiny_config(**{"reg.kind": "ir"}), [1.0, 10.0]),
        "flatten runs": lambda: jm.submit_flatten(done[0].path),
        "resume runs": lambda: jm.resume(done[0].path),
        "cancel jobs": lambda: jm.cancel(job),
    }
    for action, call in refusals.items():
        with pytest.raises(DemoRefused) as e:
            call()
        assert str(e.value) == f"this is a read-only demo: visitors cannot {action}"
    assert [r.path for r in list_runs(tmp_path / "runs")] == [r.path for r in done]  # nothing new written


def test_no_server_folder_is_accepted_in_demo_mode(tmp_path, demo, monkeypatch):
    monkeypatch.setenv("IRVAE_DATA_ROOTS", str(tmp_path))  # even inside the allowed roots
    assert allowed_data_folder("") is None  # no folder asked for: fine
    for folder in (str(tmp_path), "/etc", "relative/folder"):
        with pytest.raises(DemoRefused, match="visitors cannot read folders on the server"):
            allowed_data_folder(folder)


def test_the_distance_suite_is_not_written_into_a_run_in_demo_mode(tmp_path, demo):
    from irvae_core.store.runs import new_run

    run = new_run(tmp_path, tiny_config())
    with pytest.raises(DemoRefused, match="visitors cannot write into runs"):
        compute_suite(run)
    assert not run.file("distances.json").exists()


PAGES = ["app_pages/home.py", "app_pages/train.py", "app_pages/latent.py", "app_pages/tradeoff.py",
         "app_pages/interpolation.py", "app_pages/distances.py", "app_pages/retrieval.py", "app_pages/mocap.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_in_demo_mode_with_the_banner_and_no_write_controls(page, demo, shipped_examples, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(page)
    assert not at.exception and not at.error
    assert BANNER in [i.value for i in at.info]
    labels = [b.label for b in at.button] + [b.label for b in at.get("form_submit_button")]
    for forbidden in ("Start training", "Estimate time per epoch", "Start sweep", "Flatten", "Resume", "Cancel",
                      "Train a VAE and an IRVAE on MNIST", "Train on the CMU sample", "Train on this CMU folder"):
        assert not [label for label in labels if label.startswith(forbidden)], (page, forbidden)
    assert not [t.label for t in at.text_input if "folder" in t.label.lower()]  # no field naming a server folder


def test_lab_app_demo_serves_with_irvae_demo_set_and_no_public_warning(tmp_path):
    proc, port = lab_app(tmp_path, "--public", "--demo")
    try:
        wait_listening(proc, port)
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")  # `lab` execs streamlit itself
        assert b"IRVAE_DEMO=1" in environ
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    time.sleep(0.1)
    assert "--public serves the app" not in (tmp_path / "app.log").read_text()


def test_the_dockerfile_documents_the_demo_run_line():
    text = (ROOT / "Dockerfile").read_text()
    assert "-e IRVAE_DEMO=1" in text and "docker run" in text
    assert "-e IRVAE_DEMO=1" in (ROOT / "README.md").read_text()  # and the README's "Running it for others"
