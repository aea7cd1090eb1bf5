"""Stability across seeds: the spread of latent distances and geodesic lengths over runs of one config."""

import json
import math

import numpy as np
import pytest
import torch

from irvae_core.data import load_dataset
from irvae_core.geometry.distances import distance_cv, random_pairs
from irvae_core.store.checkpoints import load_model
from irvae_core.train.encoding import encode_split
from irvae_core.train.stability import seed_stability
from irvae_core.train.trainer import train
from tests.helpers import main_exit_code, tiny_config
from tests.test_cli import cli

pytestmark = pytest.mark.slow  # trains runs over seeds


def test_distance_cv_is_zero_for_scaled_copies_and_known_otherwise():
    d = np.array([0.5, 1.0, 2.0, 4.0])
    assert distance_cv([d, 3 * d, 0.1 * d]) == pytest.approx(np.zeros(4), abs=1e-15)
    # normalised by their means (1.5 each): [2/3, 4/3] and [4/3, 2/3]; per pair std (ddof 1) / mean = sqrt(2) / 3
    assert distance_cv([[1.0, 2.0], [2.0, 1.0]]) == pytest.approx([math.sqrt(2) / 3] * 2)
    with pytest.raises(ValueError, match="at least 2 models"):
        distance_cv([d])


def test_an_isometric_change_of_chart_leaves_the_latent_spread_at_zero():
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    idx = random_pairs(50, 40, 0)
    charts = [z, 2.5 * z @ q + 7.0, -z]  # rotated, scaled and moved; mirrored
    d = np.stack([(c[idx[:, 1]] - c[idx[:, 0]]).norm(dim=1).numpy() for c in charts])
    assert distance_cv(d) == pytest.approx(np.zeros(40), abs=1e-12)


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    runs = []
    for seed in (0, 1):
        runs.append(train(tiny_config(**{"train.epochs": 1, "train.seed": seed}), str(folder)))
    other = train(tiny_config(**{"train.epochs": 1, "model.hidden": [16, 16], "train.seed": 2}), str(folder))
    return runs, other


def test_stability_command_equals_a_direct_computation(seeded_runs, capsys):
    runs, _ = seeded_runs
    r = cli("stability", *(str(x.path) for x in runs), "--pairs", "30", "--geodesic-pairs", "3", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    test = load_dataset("digits").test
    codes = [encode_split(load_model(x).eval(), test)[0].double() for x in runs]
    idx = random_pairs(len(test), 30, 0)
    d = np.stack([(z[idx[:, 1]] - z[idx[:, 0]]).norm(dim=1).numpy() for z in codes])
    d = d / d.mean(1, keepdims=True)
    expected = d.std(0, ddof=1) / d.mean(0)
    assert result["seeds"] == [0, 1] and result["pairs"] == 30
    assert result["latent_cv"] == pytest.approx(expected.mean(), rel=1e-9)
    assert result["geodesic_pairs"] == 3 and 0 <= result["geodesic_cv"] < 2
    # the text output, and the refusals below, in this process (main, as the real process above calls it)
    assert main_exit_code(["stability", *(str(x.path) for x in runs), "--pairs", "30", "--geodesic-pairs", "0"]) == 0
    assert f"CV across seeds {result['latent_cv']:.4f}" in capsys.readouterr().out


def test_stability_refuses_other_configs_one_run_and_one_seed_twice(seeded_runs, capsys):
    runs, other = seeded_runs
    for args, sentence in (([runs[0], other], "is not of the same config"), ([runs[0]], "give at least 2 runs"),
                           ([runs[0], runs[0]], "have the same seed")):
        code = main_exit_code(["stability", *(str(x.path) for x in args), "--geodesic-pairs", "0"])
        err = capsys.readouterr().err  # one sentence (an uncaught exception would raise out of main here)
        assert code == 2 and sentence in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(ValueError, match="differ in model"):
        seed_stability([runs[0], other], geodesic_pairs=0)


def test_a_reproductions_point_of_several_seeds_gets_their_spread(seeded_runs):
    from irvae_core.experiments.reproduce import add_stability

    runs, _ = seeded_runs
    points = [{"key": "vae", "runs": [r.name for r in runs]}, {"key": "alone", "runs": [runs[0].name]}]
    add_stability(points, {r.name: r for r in runs}, "tiny")
    direct = seed_stability(runs, geodesic_pairs=3)
    assert points[0]["stability"]["latent_cv"] == pytest.approx(direct["latent_cv"], rel=1e-12)
    assert points[0]["stability"]["geodesic_cv"] == pytest.approx(direct["geodesic_cv"], rel=1e-9)
    assert "stability" not in points[1]  # one seed: no spread
