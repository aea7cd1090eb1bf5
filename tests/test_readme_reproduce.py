"""Every experiment the README lists under "Reproducing the paper" runs through the real command line at tiny size
(the helpers are test_readme_commands.py's; a module of its own so that pytest-xdist runs
it beside the others; the section's commands: test_readme_reproduce_commands.py)."""

from __future__ import annotations

import re

import pytest

from irvae_core.experiments.reproduce.plan import EXPERIMENTS
from tests.test_readme_commands import cli, cli_env, section

pytestmark = pytest.mark.slow


def test_reproduce_runs_every_experiment_tiny_from_the_command_line(tmp_path):
    env = cli_env(tmp_path)
    synopsis = section("Reproducing the paper")
    assert "./lab reproduce EXPERIMENT" in synopsis and "--tiny" in synopsis
    listed = re.findall(r"^\| `([\w-]+)` \|", synopsis, re.M)
    assert set(listed) == set(EXPERIMENTS), "the README's table of experiments is the command's list"
    out = tmp_path / "repro"
    for name in EXPERIMENTS:
        done = cli(["reproduce", name, "--tiny", "--out", str(out)], env)
        assert (out / name / "results.md").is_file() and (out / name / "results.json").is_file()
        assert str(out / name / "results.md") in done.stdout
        assert list((out / name / "runs").iterdir()), f"{name}: no run folder"
