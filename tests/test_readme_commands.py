"""Every command the README shows under "Command line" and "Reproducing the paper" runs through the real
command line (``python -m irvae_core`` in a subprocess) at tiny size and exits 0.

The commands are read from the README itself: a documented command this test does not know how to make
tiny fails the test, so a new or changed command line in those sections cannot land untried. Each is run
as written, with only its placeholders filled (a run folder the earlier commands printed, else the shipped example
of that kind; a data folder of real ASF/AMC files) and its size cut (one epoch, two digit classes, a small
flattening module, a P_Z of 2,000 points).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import main_exit_code, write_subject

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def documented_commands(title: str) -> list[list[str]]:
    """The ``./lab ...`` lines of the section's bash blocks, comments dropped, as argument lists."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section(title), re.S):
        for line in block.splitlines():
            line = re.sub(r"\[[^\]]*\]", "", line.split(" #", 1)[0]).strip()  # optional [--flag X] dropped
            if line.startswith("./lab "):
                commands.append(shlex.split(line)[1:])
    return commands


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "irvae_core", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def cli_env(tmp_path) -> dict[str, str]:
    """The environment the commands run in: their runs and reproductions under ``tmp_path``, one thread."""
    return {**os.environ, "IRVAE_RUNS": str(tmp_path / "runs"), "IRVAE_REPRODUCTIONS": str(tmp_path / "repro"),
            "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return cli_env(tmp_path)


SMALL_PZ = ["--pz-points", "2000"]  # P_Z's 100,000 points were ~4 s of every train's evaluation
TINY = {"mnist5k": ["--epochs", "1", "--classes", "0,1", *SMALL_PZ], "cmu": ["--epochs", "1", *SMALL_PZ]}
# a run the README names but does not train in the section (`retrieve runs/synthetic-faces-vae-ir-...`): the shipped
# example of that kind, a trained synthetic-faces IRVAE (read only; training a conv faces run here took 14 s)
SHIPPED_RUNS = {"synthetic-faces-vae-ir": ROOT / "examples" / "faces-irvae"}


def tiny(args: list[str], cmu_root: Path) -> list[str]:
    """The documented command at tiny size: placeholders filled, epochs and data cut."""
    args = [str(cmu_root) if a == "~/data/cmu" else a for a in args]
    if args[0] in ("train", "sweep"):
        dataset = args[args.index("--dataset") + 1] if "--dataset" in args else \
            {"cmu-fc": "cmu"}[args[args.index("--preset") + 1]]
        args += TINY[dataset]
    if args[0] == "evaluate":
        args += ["--pairs", "3", "--suite-points", "60", *SMALL_PZ]
    if args[0] == "flatten":
        args[args.index("--epochs") + 1] = "1"
        args += ["--depth", "2", "--width", "16", *SMALL_PZ]
    return args


def test_every_command_of_the_command_line_section_runs(tmp_path, env, capsys):
    commands = documented_commands("Command line")
    assert len(commands) >= 6 and {c[0] for c in commands} >= {"train", "evaluate", "flatten", "sweep", "retrieve"}
    cmu_root = tmp_path / "cmu"
    write_subject(cmu_root, "35", {"35_01": ("walking", 60), "35_02": ("walking", 60)})
    made: dict[str, str] = {}  # run-name prefix -> the run folder a train printed
    last_sweep: list[str] = []
    for args in commands:
        if args[0] == "sweep" and args[1] == "...":  # "the same sweep with more flags"
            args = [*last_sweep, *args[2:]]
            if "--engine" in args and args[args.index("--engine") + 1] == "ray":
                pytest.importorskip("ray")
                args += ["--threads", "1"]
        elif args[0] == "sweep":
            last_sweep = args
        placeholders = [a for a in args if a.startswith("runs/") and a.endswith("...")]
        for a in placeholders:
            prefix = a.removeprefix("runs/").removesuffix("...").rstrip("-")
            if prefix not in made:  # a run of that kind the README does not train itself: the shipped one
                assert prefix in SHIPPED_RUNS, f"README's `{' '.join(args)}` needs a {prefix} run: name one"
                made[prefix] = str(SHIPPED_RUNS[prefix])
            args = [made[prefix] if x == a else x for x in args]
        if args[0] == "stability":  # RUN_A RUN_B: runs of one config, other seeds, trained here (in this process:
            seeded = []  # the command under test is stability, and `train` runs through a process above)
            for i in range(sum(a.startswith("RUN_") for a in args)):
                assert main_exit_code(["train", "--dataset", "mnist5k", "--seed", str(i), *TINY["mnist5k"],
                                       "--no-evaluate", "--no-tensorboard", "--out", env["IRVAE_RUNS"]]) == 0
                seeded.append(capsys.readouterr().out.strip().splitlines()[-1])
            runs = iter(seeded)
            args = [next(runs) if a.startswith("RUN_") else a for a in args]
            args += ["--pairs", "10", "--geodesic-pairs", "2"]
        known = {"train", "evaluate", "flatten", "sweep", "retrieve", "stability"}
        assert args[0] in known, f"README shows `./lab {' '.join(args)}`, which this test does not run"
        out = cli(tiny(args, cmu_root), env).stdout
        if args[0] == "train":
            run = Path(out.strip().splitlines()[-1])
            assert (run / "config.json").is_file() and (run / "best.pt").is_file()
            name = run.name
            made.setdefault(name.rsplit("-", 2)[0] if name.count("-") >= 3 else name, str(run))
            if name.startswith("mnist5k-vae-ir"):
                made.setdefault("mnist5k-vae-ir", str(run))
        if args[0] == "flatten":
            assert (Path(out.strip().splitlines()[-1]) / "best.pt").is_file()
        if args[0] in ("evaluate", "sweep") and "--json" in args:
            assert '"mse"' in out
        if args[0] == "stability":
            assert "CV across seeds" in out
