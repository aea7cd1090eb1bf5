"""Safe by default: run names and folders cannot leave the runs folder, data folders stay under
$IRVAE_DATA_ROOTS when it is set, and `./lab app` listens on this machine only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from irvae_core.data import DataError
from irvae_core.data.roots import allowed_data_folder
from irvae_core.experiments.jobs import JobManager
from irvae_core.store.files import RunError
from irvae_core.store.runs import check_run_name, inside_runs_dir, list_runs
from irvae_core.train.trainer import train
from irvae_core.views.mocap import check_cmu_folder
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # real servers and training

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["..", "../escaped", "/tmp/escaped", "~/escaped", "a/b", "a\\b", "."])
def test_a_run_name_that_is_a_path_is_refused_with_one_sentence(tmp_path, name):
    jm = JobManager(tmp_path / "runs", evaluate=False)
    cfg = tiny_config()
    cfg.name = name
    with pytest.raises(RunError) as e:
        jm.submit_train(cfg)
    assert str(e.value).startswith(f"the run name {name!r}") and "\n" not in str(e.value)
    assert jm.jobs() == [] and list_runs(tmp_path / "runs") == [] and not (tmp_path / "escaped").exists()


def test_plain_run_names_are_kept():
    assert check_run_name("my run..v2") == "my run..v2"
    assert check_run_name("  ") is None


def test_a_link_out_of_the_runs_folder_is_not_resumed(tmp_path):
    outside = train(tiny_config(**{"train.epochs": 1}), str(tmp_path / "elsewhere"))
    outside.set_status("interrupted")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "linked").symlink_to(outside.path, target_is_directory=True)
    jm = JobManager(runs, evaluate=False)
    for path in (runs / "linked", runs / ".." / "elsewhere" / outside.name, outside.path):
        with pytest.raises(RunError, match="leads outside the runs folder .* the app only writes runs inside it"):
            jm.resume(path)
    assert jm.jobs() == [] and outside.status()["state"] == "interrupted"
    assert inside_runs_dir(runs, runs / "a" / ".." / "b") == (runs / "b").resolve()


def test_data_folders_outside_irvae_data_roots_are_refused(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "cmu").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (data / "link").symlink_to(tmp_path / "secret", target_is_directory=True)
    monkeypatch.delenv("IRVAE_DATA_ROOTS", raising=False)
    assert allowed_data_folder(str(tmp_path / "secret")) == str(tmp_path / "secret")  # unset: no restriction
    monkeypatch.setenv("IRVAE_DATA_ROOTS", str(data))
    assert allowed_data_folder(str(data / "cmu")) == str(data / "cmu")
    assert allowed_data_folder("") is None
    for bad in (tmp_path / "secret", data / ".." / "secret", data / "link", "/etc"):
        with pytest.raises(DataError, match=r"is outside the folders this server reads data from .*IRVAE_DATA_ROOTS"):
            allowed_data_folder(str(bad))
    with pytest.raises(DataError, match="must be a full path inside"):
        allowed_data_folder("data/cmu")
    with pytest.raises(DataError, match="outside the folders"):
        check_cmu_folder(str(tmp_path / "secret"))
    jm = JobManager(tmp_path / "runs", evaluate=False)
    with pytest.raises(DataError, match="outside the folders"):
        jm.submit_train(tiny_config(**{"data.root": str(tmp_path / "secret")}))
    assert jm.jobs() == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6: state 0A = LISTEN)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


def lab_app(tmp_path: Path, *args: str):
    venv = os.environ.get("IRVAE_VENV") or sys.prefix
    port = free_port()
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([str(ROOT / "lab"), "app", *args, "--server.port", str(port),
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"], cwd=ROOT,
                            env={**os.environ, "IRVAE_VENV": venv, "IRVAE_RUNS": str(tmp_path / "runs")},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, port


def wait_listening(proc, port: int, timeout: float = 120) -> set[str]:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = listening_addresses(port)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError("the app did not start listening")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc/net (Linux)")
@pytest.mark.parametrize("public", [False, True])
def test_lab_app_listens_on_this_machine_only_unless_public(tmp_path, public):
    proc, port = lab_app(tmp_path, *(["--public"] if public else []))
    try:
        found = wait_listening(proc, port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = (tmp_path / "app.log").read_text()
    if public:
        assert found - LOOPBACK, found  # every interface
        assert "warning: --public serves the app on every network interface" in log
    else:
        assert found <= LOOPBACK, found
        assert "--public serves the app" not in log
