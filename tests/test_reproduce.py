"""The reproduce command: each experiment end to end in tiny mode, resume by reuse, and the claim checks.

Every experiment the README lists under "Reproducing the paper" runs here through the real command line
(``python -m irvae_core reproduce NAME --tiny`` in a subprocess), once, and its results are checked; mnist-tradeoff
runs in-process (its resume and report-only checks read the log; conftest's ``tiny_mnist_tradeoff``, made once a
pytest run), and its command line resumes it among the section's own commands (test_readme_reproduce_commands.py).
"""

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from irvae_core.cli import main
from irvae_core.config import ConfigError, preset_config
from irvae_core.data import load_dataset
from irvae_core.experiments.reproduce import list_reproductions, reproduce, ship_reproduction
from irvae_core.experiments.reproduce.plan import (
    CMU_QUICK,
    EVALUATION,
    EXPERIMENTS,
    MNIST_QUICK,
    QUICK_LATENT_ALPHA,
    ReproductionError,
    plan,
)
from irvae_core.experiments.reproduce.report import claim_lines, render_markdown
from irvae_core.store.runs import list_runs
from irvae_core.train.evaluation import PZ_POINTS
from tests.test_readme_commands import cli, cli_env, documented_commands, section

pytestmark = pytest.mark.slow  # tiny reproductions end to end

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CMU = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cmu"


def assert_png(path: Path) -> None:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200


def table_rows(md: str) -> list[list[str]]:
    """The cells of the first markdown table's body."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    body = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        body.append([c.strip() for c in line.strip("|").split("|")])
    return body


THROUGH_CLI = ("mnist-latent-dims", "cmu-tradeoff", "isometry-vs-scaled", "celeba-retrieval")  # reproduce_tiny's


def reproduce_tiny(name: str, out: Path) -> dict:
    """``./lab reproduce NAME --tiny --out OUT`` through the real command line: its results.json."""
    assert name in THROUGH_CLI
    done = cli(["reproduce", name, "--tiny", "--out", str(out)], cli_env(out))
    assert str(out / name / "results.md") in done.stdout and list((out / name / "runs").iterdir())
    return json.loads((out / name / "results.json").read_text())


def test_the_readme_lists_every_experiment_and_its_commands_run_mnist_tradeoff():
    synopsis = section("Reproducing the paper")
    assert "./lab reproduce EXPERIMENT" in synopsis and "--tiny" in synopsis
    listed = re.findall(r"^\| `([\w-]+)` \|", synopsis, re.M)
    assert set(listed) == set(EXPERIMENTS), "the README's table of experiments is the command's list"
    # the tests below run every other experiment through the command line (a new experiment must join them)
    assert ["reproduce", "mnist-tradeoff", "--quick"] in documented_commands("Reproducing the paper")
    assert set(EXPERIMENTS) == {"mnist-tradeoff", *THROUGH_CLI}


@pytest.fixture(scope="module")
def tiny_tradeoff(tmp_path_factory, tiny_mnist_tradeoff):
    """A finished tiny mnist-tradeoff reproduction of this module's own (a copy of the run's shared one, which
    test_engines compares Ray's against): its folder, its result (results.json) and a list for the log lines of
    the test's resumes."""
    out = tmp_path_factory.mktemp("reproductions")
    shutil.copytree(tiny_mnist_tradeoff / "mnist-tradeoff", out / "mnist-tradeoff")
    return out, json.loads((out / "mnist-tradeoff" / "results.json").read_text()), []


def test_mnist_tradeoff_tiny_end_to_end_then_resume_reuses_every_finished_run(tiny_tradeoff):
    tmp_path, result, logs = tiny_tradeoff
    folder = tmp_path / "mnist-tradeoff"
    md = (folder / "results.md").read_text()
    rows = table_rows(md)
    methods = [(r[0].removesuffix(" (collapsed)"), r[1]) for r in rows]  # one epoch: below the mean example
    grid = plan("mnist-tradeoff", "tiny").settings["alphas"]
    assert methods == [("VAE", "-"), *(("FMVAE", f"{a:g}") for a in sorted(grid["fmvae"])),
                       *(("IRVAE", f"{a:g}") for a in sorted(grid["ir"])),
                       *(("IRVAE+FM", f"{a:g}") for a in sorted(grid["ir"])),
                       *(("GEOMVAE", f"{a:g}") for a in sorted(grid["geomae"]))]  # Nazari et al.'s, last
    for r in rows:  # MSE, VoR, MCN are numbers from each run's evaluation.json; one seed each
        assert all(float(c) > 0 for c in r[2:5]) and r[-1].split(",")[0] in ("0", "1")
        assert -1 <= float(r[5]) <= 1 and float(r[6]) >= 0 and r[7] == "-"  # Spearman, ratio CV; one seed: no spread
    for row in result["rows"]:  # the tradeoff reads geometry on P_Z (Section 5.1)
        ev = json.loads((folder / "runs" / row["run"] / "evaluation.json").read_text())
        pz = ev["augmented"]
        assert (row["mse"], row["vor"], row["mcn"]) == (ev["mse"], pz["vor"], pz["mcn"])
        assert row["latent"] == "augmented"
        assert pz["points"] == 2000 and pz["latent"] == "P_Z"  # tiny mode's P_Z (quick and full: the paper's)
        assert row["collapsed"] == (row["mse"] >= 0.9 * result["mean_example_mse"])
    assert "VoR and MCN on P_Z" in md and "Tiny mode checks the pipeline" in md and "2,000 points" in md
    assert EVALUATION == {"full": True, "quick": True, "tiny": {"pz_points": 2000}} and PZ_POINTS == 100_000
    flat = {r["key"]: r for r in result["rows"]}
    # the flattening module leaves reconstructions unchanged by construction (eq. 11)
    fm_keys = [k for k in flat if k.endswith("-fm")]
    assert len(fm_keys) == len(grid["ir"])
    for k in fm_keys:
        assert flat[k]["mse"] == pytest.approx(flat[k.removesuffix("-fm")]["mse"], rel=1e-4)
    assert result["figures"] == ["tradeoff.png"] and "![tradeoff.png](tradeoff.png)" in md
    assert_png(folder / "tradeoff.png")
    assert [c["claim"][:20] for c in result["claims"]][:2] == ["IRVAE's points lie b", "the flattening modul"]
    # the baseline a collapsed model scores: the mean training digit (of the 0s and 1s tiny mode keeps)
    data = load_dataset("mnist5k", classes=[0, 1])
    mean_mse = (data.test.x.double() - data.train.x.double().mean(0)).pow(2).mean().item()
    assert result["mean_example_mse"] == pytest.approx(mean_mse)
    assert [c["claim"].split(" (")[0] for c in result["claims"][2:]] == ["no run of the grid collapsed"]
    assert all(c["verdict"] == "undecided" for c in result["claims"][:2])  # one seed: no spread, no verdict
    assert result["seeds"] == [0]
    # each run carries the distortion suite's geodesic agreement, shown per point in the table
    for row in result["rows"]:
        suite = json.loads((folder / "runs" / row["run"] / "evaluation.json").read_text())["distances"]
        assert row["geo_spearman"] == suite["geo_spearman"] and suite["geo_pairs"] == 4
        assert "shortens by < 0.001 relative" in suite["measured_on"]  # tiny mode's sooner stop
    assert "| geodesic Spearman | geodesic/latent CV | CV across seeds: latent / geodesic |" in md
    assert "## The paper's claims on these points" in md and result["missing"] == []
    assert "mnist5k" in result["data"]
    before = sorted(r.name for r in list_runs(folder / "runs"))
    assert len(before) == 9

    # resume: a second call trains nothing; a run that did not finish is trained again, alone
    logs.clear()
    again = reproduce("mnist-tradeoff", tmp_path, "tiny", log=logs.append)
    assert sorted(r.name for r in list_runs(folder / "runs")) == before
    assert len(logs) == 9 and all("reusing finished run" in line for line in logs)
    assert again["rows"] == result["rows"]
    key = f"fmvae-a{grid['fmvae'][-1]:g}"
    fmvae = next(r for r in result["rows"] if r["key"] == key)
    (folder / "runs" / fmvae["run"] / "status.json").write_text(json.dumps({"state": "interrupted"}))
    # --report-only: the table of the finished runs, the unfinished one named, nothing trained
    assert main(["reproduce", "mnist-tradeoff", "--tiny", "--report-only", "--out", str(tmp_path)]) == 0
    partial = json.loads((folder / "results.json").read_text())
    assert partial["missing"] == [key] and len(partial["rows"]) == 8
    assert f"Runs not finished (not trained yet, or failed: see their status.json): {key}" in \
        (folder / "results.md").read_text()
    assert sorted(r.name for r in list_runs(folder / "runs")) == before
    logs.clear()
    reproduce("mnist-tradeoff", tmp_path, "tiny", log=logs.append)
    after = sorted(r.name for r in list_runs(folder / "runs"))
    assert len(after) == 10 and sum("reusing" in line for line in logs) == 8
    assert list_reproductions(tmp_path)[0]["figure_paths"] == [str(folder / "tradeoff.png")]


def test_the_tradeoff_page_shows_a_finished_reproduction(tiny_tradeoff, tmp_path, monkeypatch):
    out, result, _ = tiny_tradeoff
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("IRVAE_REPRODUCTIONS", str(out))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/tradeoff.py").run()
    assert not at.exception and not at.error
    assert next(s for s in at.selectbox if s.label == "Reproduction").options == ["mnist-tradeoff (tiny mode)"]
    assert len(at.get("image")) == 1  # tradeoff.png
    claims = [m.value for m in at.markdown if "IRVAE's points lie below" in m.value]
    assert claims and claim_lines(result)[0] in claims[0]
    latest = list_reproductions(out)[0]  # the resume test above may have retrained a run
    table = at.dataframe[0].value  # one row per point: mean ± std over seeds
    assert table["key"].tolist() == [p["key"] for p in latest["points"]]
    assert table["mse"].tolist() == pytest.approx([p["mse"] for p in latest["points"]])
    assert [r["key"] for r in latest["rows"]] == [r["key"] for r in result["rows"]]


def test_a_shipped_reproduction_keeps_its_results_renders_from_them_and_shows_on_a_fresh_install(
        tiny_tradeoff, tmp_path, monkeypatch):
    out, _, _ = tiny_tradeoff
    folder = out / "mnist-tradeoff"
    assert (folder / "results.md").read_text() == render_markdown(json.loads((folder / "results.json").read_text()))
    monkeypatch.setenv("IRVAE_EXAMPLES", str(tmp_path / "examples"))
    assert main(["reproduce", "mnist-tradeoff", "--tiny", "--report-only", "--out", str(out), "--ship"]) == 0
    shipped = tmp_path / "examples" / "reproductions" / "mnist-tradeoff"
    assert sorted(p.name for p in shipped.iterdir()) == ["results.json", "results.md", "tradeoff.png"]  # no runs
    text = (shipped / "results.json").read_text()
    assert str(out) not in text and json.loads(text)["folder"] == "mnist-tradeoff"  # no path of this machine
    assert (shipped / "results.md").read_text() == (folder / "results.md").read_text()
    [listed] = list_reproductions(tmp_path / "none")
    assert listed["shipped"] and listed["figure_paths"] == [str(shipped / "tradeoff.png")]
    assert [r["shipped"] for r in list_reproductions(out)] == [False, True]  # the user's own first
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("IRVAE_REPRODUCTIONS", str(tmp_path / "none"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/tradeoff.py").run()
    assert not at.exception and not at.error
    assert next(s for s in at.selectbox if s.label == "Reproduction").options == ["mnist-tradeoff (tiny mode, shipped)"]
    assert any(c.value.startswith("Shipped with IRVAE Lab, read-only") and listed["command"] in c.value
               for c in at.caption)
    assert len(at.get("image")) == 1
    (folder / "results.json").write_text(json.dumps({**json.loads(text), "missing": ["vae"]}))
    with pytest.raises(ConfigError, match="runs not finished \\(vae\\); finish the reproduction before shipping"):
        ship_reproduction(folder, tmp_path / "elsewhere")
    reproduce("mnist-tradeoff", out, "tiny", train=False)  # leave the module's reproduction as it was


def test_latent_dims_tiny_tables_condition_numbers_beside_table_3(tmp_path):
    result = reproduce_tiny("mnist-latent-dims", tmp_path)
    rows = table_rows((tmp_path / "mnist-latent-dims" / "results.md").read_text())
    assert [r[0] for r in rows] == ["2", "8", "16"]
    assert [r[3] for r in rows] == ["5.39 ± 4.72", "85.55 ± 85.69", "1.635e+06 ± 1.79e+06"]
    assert [r[4] for r in rows] == ["1.41 ± 0.55", "1.87 ± 0.25", "37.28 ± 42.12"]
    alphas = [float(r[5]) if r[5] != "-" else None for r in rows]  # the quick grid's alpha per latent size
    assert alphas == [QUICK_LATENT_ALPHA[m] if by_m else None
                      for m, by_m in zip((2, 8, 16), [any(q["method"] == "IRVAE" and q["latent_dim"] == m
                                                          and not q["collapsed"] for q in result["points"])
                                                      for m in (2, 8, 16)])]
    by = {(r["method"], r["latent_dim"]): r for r in result["rows"]}
    for r in rows:  # geometry on the encoded test data, as Table 3
        if r[2] == "-":
            continue
        mean, std = (float(v) for v in r[2].split(" / "))
        irvae = by[("IRVAE", int(r[0]))]
        assert irvae["latent"] == "encoded"
        assert mean == pytest.approx(irvae["cond_mean"], rel=1e-3) and std == pytest.approx(irvae["cond_std"], rel=1e-3)
        assert mean >= 1.0  # a condition number
    assert [c["claim"] for c in result["claims"]][:4] == [
        "IRVAE reconstructs at m = 2 (test MSE at most 1.1 x the VAE's)",
        "IRVAE reconstructs at m = 8 (test MSE at most 1.1 x the VAE's)",
        "IRVAE MCN <= 1.9 at m = 8 (paper 1.87)", "IRVAE's condition numbers far below VAE's at m = 8 (at least 10x)"]
    assert_png(tmp_path / "mnist-latent-dims" / "condition_numbers.png")


def test_cmu_tradeoff_tiny_runs_on_the_shipped_cmu_sample_and_says_so(tmp_path):
    result = reproduce_tiny("cmu-tradeoff", tmp_path)
    md = (tmp_path / "cmu-tradeoff" / "results.md").read_text()
    assert "Data: cmu-sample (a real subset shipped with IRVAE Lab)" in md and result["data"].startswith("cmu-sample")
    assert "| paper | 1.720e-04 | 4.86 | 20.3 |" in md  # Section 5.1.2's VAE beside ours
    methods = [r[0].removesuffix(" (collapsed)") for r in table_rows(md)]  # one epoch on 700 poses
    assert methods.count("IRVAE+FM") == 2
    assert_png(tmp_path / "cmu-tradeoff" / "tradeoff.png")


@pytest.mark.skipif(not CMU.is_dir(), reason="the shared CMU trials (../shared/data/cmu) are absent")
def test_cmu_plan_reads_the_real_trials_with_the_cmu_preset():
    p = plan("cmu-tradeoff", "quick", str(CMU))
    cfg = next(j.cfg for j in p.jobs if j.key == "vae")
    assert cfg.data.name == "cmu" and Path(cfg.data.root) == CMU.resolve()
    assert cfg.model.hidden == [512, 512] and cfg.model.out_act == "tanh" and cfg.train.epochs == 20
    assert cfg.model.fixed_sigma == 0.05 and cfg.train.lr_schedule == "constant"
    assert p.settings["alphas"] == CMU_QUICK and p.settings["cmu_split"] == "frames"


def test_cmu_quick_without_a_root_reads_the_shipped_sample_with_the_same_protocol():
    p, rooted = plan("cmu-tradeoff", "quick"), plan("cmu-tradeoff", "quick", "/some/cmu")
    cfg, real = (next(j.cfg for j in q.jobs if j.key == "vae") for q in (p, rooted))
    assert (cfg.data.name, cfg.data.root, real.data.name) == ("cmu-sample", None, "cmu")
    assert dataclasses.replace(cfg, data=real.data) == real  # only the data differs
    assert [j.key for j in p.jobs] == [j.key for j in rooted.jobs]


def test_isometry_vs_scaled_tiny_has_a_curve_per_k(tmp_path):
    result = reproduce_tiny("isometry-vs-scaled", tmp_path)
    assert [(r["method"], r["k"]) for r in result["rows"]] == [
        ("IRVAE", 1.0), ("IRVAE", 1.0), ("ISOVAE", 1.0), ("ISOVAE", 1.0), ("ISOVAE", 100.0), ("ISOVAE", 100.0)]
    # one point per (k, alpha): the two k with the same alphas are not averaged together
    assert [q["method"] for q in result["points"]] == ["IRVAE", "IRVAE", "ISOVAE k=1", "ISOVAE k=1",
                                                       "ISOVAE k=100", "ISOVAE k=100"]
    assert [c["claim"] for c in result["claims"]][:2] == [
        "IRVAE's points lie below strict isometry's with k = 1 for most alpha",
        "IRVAE's points lie below strict isometry's with k = 100 for most alpha"]
    assert_png(tmp_path / "isometry-vs-scaled" / "tradeoff.png")


def test_celeba_retrieval_tiny_tables_p_at_k_beside_table_1(tmp_path):
    result = reproduce_tiny("celeba-retrieval", tmp_path)
    for row in result["rows"]:  # a conv decoder's P_Z: as many points as encoded ones, tiny mode's size or not
        ev = json.loads((tmp_path / "celeba-retrieval" / "runs" / row["run"] / "evaluation.json").read_text())
        assert ev["augmented"]["points"] == ev["geometry_points"] == ev["n"] < EVALUATION["tiny"]["pz_points"]
    rows = table_rows((tmp_path / "celeba-retrieval" / "results.md").read_text())
    assert [r[0] for r in rows] == ["VAE (ours, 1 seed)", "VAE (paper)", "FMVAE (ours, 1 seed)", "FMVAE (paper)",
                                    "IRVAE (ours, 1 seed)", "IRVAE (paper)", "IRVAE+FM (ours, 1 seed)",
                                    "IRVAE+FM (paper)"]
    assert rows[1][1:] == ["60", "60.5", "61", "58.4", "39.8", "38.7", "37", "34.7"]
    for r in rows[::2]:
        assert all(0 <= float(c) <= 100 for c in r[1:])
    assert_png(tmp_path / "celeba-retrieval" / "retrieval.png")
    md = (tmp_path / "celeba-retrieval" / "results.md").read_text()
    assert "Reconstruction and geometry of the same runs" in md and "| FMVAE | 1 | " in md  # MSE beside P@K


def test_full_and_quick_modes_use_the_presets_settings():
    full = plan("mnist-tradeoff", "full", "/data/mnist")
    paper = preset_config("mnist-fc", paper=True)
    vae = full.jobs[0].cfg
    assert (vae.data.name, vae.train.epochs, vae.train.lr, vae.train.lr_schedule) == ("mnist", 300, 1e-4, "constant")
    assert vae.model.hidden == paper.model.hidden
    quick = plan("mnist-tradeoff", "quick")
    assert quick.jobs[0].cfg.data.name == "mnist5k" and quick.settings["alphas"]["ir"] == MNIST_QUICK["ir"]
    # the quick grids: at least 5 per method, low to high regularization
    assert all(len(v) >= 5 and v == sorted(v) for g in (MNIST_QUICK, CMU_QUICK) for v in g.values())
    celeba = plan("celeba-retrieval", "full", "/data/celeba")
    # Appendix D.3: IRVAE alpha 10, FMVAE 1, FM beta 100 and lr 1e-5
    keys = [j.key for j in celeba.jobs]
    assert keys[:4] == ["vae", "fmvae-a1", "irvae-a10", "irvae-a10-fm"] and len(keys) == 12  # 3 seeds
    assert (celeba.jobs[3].fcfg.beta, celeba.jobs[3].fcfg.lr) == (100.0, 1e-5)


def test_missing_data_root_and_unknown_experiment_are_one_sentence(tmp_path, capsys):
    with pytest.raises(ReproductionError, match="give --data-root DIR .*; only --tiny runs without it"):
        plan("celeba-retrieval", "quick")
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "cmu-tradeoff", "--out", str(tmp_path)])  # full mode: the paper's data, not the sample
    err = capsys.readouterr().err
    assert e.value.code == 2 and "give --data-root DIR" in err and "Traceback" not in err
    assert "--quick and --tiny run on cmu-sample without it" in err
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "mnist-everything"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "mnist-tradeoff", "--tiny", "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "mnist-tradeoff")


def test_help_names_every_experiment(capsys):
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for name in ("mnist-tradeoff", "mnist-latent-dims", "cmu-tradeoff", "isometry-vs-scaled", "celeba-retrieval"):
        assert name in out
