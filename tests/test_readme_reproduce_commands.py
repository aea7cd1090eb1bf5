"""Every command the README shows under "Reproducing the paper" runs through the real command line at tiny size (the
helpers are test_readme_commands.py's; a module of its own, apart from test_reproduce.py's run of every experiment,
so that pytest-xdist runs the two minutes-long modules on two workers at once).

The section's first command resumes a copy of the pytest run's shared tiny mnist-tradeoff (conftest's
``tiny_mnist_tradeoff``, trained as this command trains it): it reuses every run, and its table, figures and claims
are written again by this process; training through a process is what test_reproduce.py's four other experiments
do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import write_subject
from tests.test_readme_commands import cli, cli_env, documented_commands

pytestmark = pytest.mark.slow


def test_every_reproduce_command_of_the_reproducing_section_runs_tiny(tmp_path, tiny_mnist_tradeoff):
    env = cli_env(tmp_path)
    commands = documented_commands("Reproducing the paper")
    flags = {a for c in commands for a in c}
    assert all(c[0] == "reproduce" for c in commands) and len(commands) >= 4
    assert {"--quick", "--pilot", "--cmu-split", "--report-only", "--engine"} <= flags
    cmu_root = tmp_path / "cmu"  # two classes of three trials: the trial split gives each class to every split
    write_subject(cmu_root, "35", {f"35_0{i}": ("walking", 40) for i in range(1, 4)})
    write_subject(cmu_root, "13", {f"13_0{i}": ("punching", 40) for i in range(1, 4)})
    (cmu_root / "classes.csv").write_text("".join(f"{s}_0{i},{c}\n" for s, c in (("35", "walking"), ("13", "punching"))
                                                  for i in range(1, 4)))
    out = tmp_path / "repro"
    shutil.copytree(tiny_mnist_tradeoff / "mnist-tradeoff", out / "mnist-tradeoff")
    written = [p for p in (out / "mnist-tradeoff").iterdir() if p.is_file()]  # results.md, .json, the figures
    for p in written:  # written again by the first command
        p.unlink()
    trained = sorted((out / "mnist-tradeoff" / "runs").iterdir())
    for args in commands:
        args = ["--tiny" if a == "--quick" else str(cmu_root) if a == "~/data/cmu" else a for a in args]
        if "--engine" in args and args[args.index("--engine") + 1] == "ray":
            pytest.importorskip("ray")
        done = cli([*args, "--out", str(out)], env)
        name = args[1]
        if args == commands[0]:  # every run reused, every result written again
            assert sorted((out / name / "runs").iterdir()) == trained and all(p.is_file() for p in written)
        if "--pilot" in args:
            assert (out / name / "pilot.md").is_file() and "ir" in done.stdout
        else:
            folder = out / (f"{name}-trials" if "trials" in args else name)
            assert str(folder / "results.md") in done.stdout and (folder / "results.json").is_file()
            if "--ship" in args:  # into the shipped reproductions (the test's own examples folder)
                shipped = Path(env["IRVAE_EXAMPLES"]) / "reproductions" / folder.name
                assert (shipped / "results.md").read_text() == (folder / "results.md").read_text()
