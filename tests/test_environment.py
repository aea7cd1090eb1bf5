"""The pinned environment: the locks cover every requirement with exact versions and hashes, the running
environment is the locked one, and the Dockerfile installs from the lock (read, not built: no Docker daemon here)."""

import re
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"requirements.txt": "requirements.lock", "requirements-dev.txt": "requirements-dev.lock",
         "requirements-ray.txt": "requirements-ray.lock"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> dict[str, str | None]:
    """name -> exact version (None for a range) of each requirement line."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = re.match(r"([A-Za-z0-9_.-]+)\s*(==\s*(\S+))?", line).groups()
            out[canonical(name)] = version
    return out


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of each pinned package in a lock."""
    out, name = {}, None
    for line in path.read_text().splitlines():
        if m := re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line):
            name = canonical(m.group(1))
            out[name] = (m.group(2), 0)
        if name and "--hash=sha256:" in line:
            out[name] = (out[name][0], out[name][1] + 1)
    return out


@pytest.mark.parametrize("source,lock", LOCKS.items())
def test_each_lock_pins_every_requirement_with_hashes(source, lock):
    wanted, pins = requirements(ROOT / source), locked(ROOT / lock)
    assert set(wanted) <= set(pins), set(wanted) - set(pins)
    assert all(pins[n][0] == v for n, v in wanted.items() if v is not None)  # torch==2.14.1 stays 2.14.1
    assert all(count >= 1 for _, count in pins.values())  # pip --require-hashes checks every file
    app = locked(ROOT / "requirements.lock")
    assert all(app[n][0] == pins[n][0] for n in set(app) & set(pins))  # the extra locks agree with the app's


def test_the_running_environment_is_the_locked_one():
    pins = {**locked(ROOT / "requirements.lock"), **locked(ROOT / "requirements-dev.lock")}
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differ = {n: (v, installed.get(n)) for n, (v, _) in pins.items() if n != "setuptools" and installed.get(n) != v}
    assert not differ  # name: (locked, installed)


def test_the_dockerfile_installs_the_lock_and_leaves_the_environment_out():
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements.lock ." in text
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in text
    assert text.index("COPY requirements.lock") < text.index("COPY . .")  # the install layer is cached apart
    assert "docker run -p 8501:8501 -v" in text and "/data" in text and "runs no Docker daemon" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv/", ".git/", "runs/", "reproductions/"} <= set(ignored)
    assert "examples" not in " ".join(ignored)  # the shipped examples and reproductions go into the image


FAKE_UV = """#!/usr/bin/env bash
# stands in for uv (its real runs need the package index): records its arguments; "venv" makes a venv folder
echo "$*" >> "$UV_LOG"
if [ "$1" = venv ]; then mkdir -p "${@: -1}/bin" && ln -sf "$(command -v python3)" "${@: -1}/bin/python"; fi
if [ "$1 $2" = "pip compile" ]; then for a in "$@"; do [ "$prev" = -o ] && : > "$a"; prev=$a; done; fi
"""


def test_lab_refreshes_the_locks_with_uv_and_installs_from_them_through_uv_when_it_is_on_path(tmp_path):
    """./lab's own setup and lock, run for real with uv standing in (no index here): the locks compiled from each
    requirements file with hashes, a new environment made by uv and filled from the locks with --require-hashes,
    and nothing installed again while the locks are unchanged."""
    import os
    import shutil
    import subprocess

    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "lab", work / "lab")
    for f in (*LOCKS, *LOCKS.values()):
        shutil.copy(ROOT / f, work / f)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(FAKE_UV)
    (bin_dir / "uv").chmod(0o755)
    log = tmp_path / "uv.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "UV_LOG": str(log), "IRVAE_VENV": ".venv-t"}
    env.pop("IRVAE_RAY", None)
    env.pop("IRVAE_INSTALLER", None)
    run = subprocess.run(["bash", "lab", "lock"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    compiled = [line.split() for line in log.read_text().splitlines()]
    assert [(c[2], c[c.index("-o") + 1]) for c in compiled] == list(LOCKS.items())
    assert all("--generate-hashes" in c for c in compiled)
    log.unlink()
    for f in LOCKS.values():
        shutil.copy(ROOT / f, work / f)
    for _ in range(2):  # the second time the stamp matches the locks: nothing is installed
        run = subprocess.run(["bash", "lab", "setup"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
    calls = [line.split() for line in log.read_text().splitlines()]
    assert calls[0][0] == "venv" and calls[0][-1] == ".venv-t" and len(calls) == 2
    install = calls[1]
    assert install[:2] == ["pip", "install"] and "--require-hashes" in install
    locks = [install[i + 1] for i, a in enumerate(install) if a == "-r"]
    assert locks == ["requirements.lock", "requirements-dev.lock"]
