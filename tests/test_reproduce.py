"""The reproduce command: each experiment end to end in tiny mode, resume by reuse, and the claim checks."""

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from irvae_core.cli import main
from irvae_core.config import preset_config
from irvae_core.data import load_dataset
from irvae_core.experiments.reproduce import list_reproductions, reproduce
from irvae_core.experiments.reproduce.plan import ReproductionError, plan
from irvae_core.experiments.reproduce.report import below_curve, claim_lines, reconstruction_claims, tradeoff_claims
from irvae_core.store.runs import list_runs

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CMU = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cmu"


def pt(method, mse, vor, mcn, alpha=1.0, key=None):
    return {"method": method, "mse": mse, "vor": vor, "mcn": mcn, "alpha": alpha, "key": key or f"{method}-{alpha}"}


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


def test_below_curve_compares_with_the_rivals_of_equal_or_lower_mse():
    fmvae = [pt("FMVAE", 1.0, 10.0, 5.0), pt("FMVAE", 2.0, 4.0, 3.0), pt("FMVAE", 3.0, 1.0, 1.5)]
    assert below_curve(pt("IRVAE", 2.0, 3.0, 2.0), fmvae)  # beats both points of MSE <= 2
    assert not below_curve(pt("IRVAE", 3.5, 2.0, 1.2), fmvae)  # FMVAE at MSE 3 has a lower VoR
    assert not below_curve(pt("IRVAE", 2.0, 3.0, 4.0), fmvae)  # lower VoR but higher MCN than FMVAE at MSE 2
    # better reconstruction than every FMVAE point: compared with FMVAE's lowest-MSE point
    assert below_curve(pt("IRVAE", 0.5, 9.0, 4.0), fmvae)
    assert not below_curve(pt("IRVAE", 0.5, 11.0, 4.0), fmvae)
    assert not below_curve(pt("IRVAE", 1.0, 1.0, 1.0), [])


def test_tradeoff_claims_count_alphas_and_demand_an_unchanged_mse_for_the_flattening_module():
    rows = [pt("FMVAE", 1.0, 10.0, 5.0, 1.0), pt("FMVAE", 2.0, 4.0, 3.0, 10.0),
            pt("IRVAE", 1.0, 5.0, 2.0, 100.0, "irvae-a100"), pt("IRVAE", 2.0, 5.0, 2.5, 1000.0, "irvae-a1000"),
            pt("IRVAE", 3.0, 1.0, 1.1, 1e4, "irvae-a10000"),
            pt("IRVAE+FM", 1.0, 4.0, 1.5, 100.0, "irvae-a100-fm"),  # lower VoR and MCN, same MSE
            pt("IRVAE+FM", 2.01, 4.0, 2.0, 1000.0, "irvae-a1000-fm")]  # MSE moved by 0.5%: not unchanged
    below, fm = tradeoff_claims(rows)
    assert below["count"] == "2 of 3 alphas" and below["holds"]  # the IRVAE at MSE 2 loses to FMVAE's VoR 4
    assert fm["count"] == "1 of 2 IRVAE runs" and not fm["holds"]
    rows[-1]["mse"] = 2.0
    assert tradeoff_claims(rows)[1]["holds"]


@pytest.fixture(scope="module")
def tiny_tradeoff(tmp_path_factory):
    """A finished tiny mnist-tradeoff reproduction: its folder, result and log lines."""
    out = tmp_path_factory.mktemp("reproductions")
    logs: list[str] = []
    return out, reproduce("mnist-tradeoff", out, "tiny", log=logs.append), logs


def test_reconstruction_claims_flag_runs_no_better_than_the_mean_example():
    rows = [pt("VAE", 0.5, 9.0, 9.0), pt("IRVAE", 0.5, 1.0, 1.0, 1.0, "irvae-a1"),
            pt("IRVAE", 0.95, 1.0, 1.0, 10.0, "irvae-a10")]
    [claim] = reconstruction_claims(rows, 1.0)  # the VAE is not checked: it is the reference
    assert not claim["holds"] and claim["count"] == "1 of 2; not: irvae-a10"
    assert reconstruction_claims(rows[:2], 1.0)[0]["holds"] and reconstruction_claims(rows, None) == []


def test_mnist_tradeoff_tiny_end_to_end_then_resume_reuses_every_finished_run(tiny_tradeoff):
    tmp_path, result, logs = tiny_tradeoff
    folder = tmp_path / "mnist-tradeoff"
    md = (folder / "results.md").read_text()
    rows = table_rows(md)
    methods = [(r[0], r[1]) for r in rows]
    assert methods == [("VAE", "-"), ("FMVAE", "0.1"), ("FMVAE", "1"), ("IRVAE", "100"), ("IRVAE", "1000"),
                       ("IRVAE+FM", "100"), ("IRVAE+FM", "1000")]
    for r in rows:  # MSE, VoR, MCN are numbers from each run's evaluation.json
        assert all(float(c) > 0 for c in r[2:5])
    for row in result["rows"]:
        ev = json.loads((folder / "runs" / row["run"] / "evaluation.json").read_text())
        assert (row["mse"], row["vor"], row["mcn"]) == (ev["mse"], ev["vor"], ev["mcn"])
    flat = {r["key"]: r for r in result["rows"]}
    # the flattening module leaves reconstructions unchanged by construction (eq. 11)
    assert flat["irvae-a100-fm"]["mse"] == pytest.approx(flat["irvae-a100"]["mse"], rel=1e-4)
    assert result["figures"] == ["tradeoff.png"] and "![tradeoff.png](tradeoff.png)" in md
    assert_png(folder / "tradeoff.png")
    assert [c["claim"][:20] for c in result["claims"]][:2] == ["IRVAE's points lie b", "the flattening modul"]
    # the baseline a collapsed model scores: the mean training digit (of the 0s and 1s tiny mode keeps)
    data = load_dataset("mnist5k", classes=[0, 1])
    mean_mse = (data.test.x.double() - data.train.x.double().mean(0)).pow(2).mean().item()
    assert result["mean_example_mse"] == pytest.approx(mean_mse)
    assert [c["claim"].split(" (")[0] for c in result["claims"][2:]] == [
        f"every {m} run reconstructs" for m in ("FMVAE", "IRVAE", "IRVAE+FM")]
    assert "## The paper's claims on these points" in md and result["missing"] == []
    assert "mnist5k" in result["data"]
    before = sorted(r.name for r in list_runs(folder / "runs"))
    assert len(before) == 7

    # resume: a second call trains nothing; a run that did not finish is trained again, alone
    logs.clear()
    again = reproduce("mnist-tradeoff", tmp_path, "tiny", log=logs.append)
    assert sorted(r.name for r in list_runs(folder / "runs")) == before
    assert len(logs) == 7 and all("reusing finished run" in line for line in logs)
    assert again["rows"] == result["rows"]
    fmvae = next(r for r in result["rows"] if r["key"] == "fmvae-a1")
    (folder / "runs" / fmvae["run"] / "status.json").write_text(json.dumps({"state": "interrupted"}))
    # --report-only: the table of the finished runs, the unfinished one named, nothing trained
    assert main(["reproduce", "mnist-tradeoff", "--tiny", "--report-only", "--out", str(tmp_path)]) == 0
    partial = json.loads((folder / "results.json").read_text())
    assert partial["missing"] == ["fmvae-a1"] and len(partial["rows"]) == 6
    assert "Runs not finished (not trained yet, or failed: see their status.json): fmvae-a1" in \
        (folder / "results.md").read_text()
    assert sorted(r.name for r in list_runs(folder / "runs")) == before
    logs.clear()
    reproduce("mnist-tradeoff", tmp_path, "tiny", log=logs.append)
    after = sorted(r.name for r in list_runs(folder / "runs"))
    assert len(after) == 8 and sum("reusing" in line for line in logs) == 6
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
    assert at.dataframe[0].value["run"].tolist() == [r["run"] for r in latest["rows"]]
    assert [r["key"] for r in latest["rows"]] == [r["key"] for r in result["rows"]]


def test_latent_dims_tiny_tables_condition_numbers_beside_table_3(tmp_path):
    result = reproduce("mnist-latent-dims", tmp_path, "tiny")
    rows = table_rows((tmp_path / "mnist-latent-dims" / "results.md").read_text())
    assert [r[0] for r in rows] == ["2", "8", "16"]
    assert [r[3] for r in rows] == ["5.39 ± 4.72", "85.55 ± 85.69", "1.635e+06 ± 1.79e+06"]
    assert [r[4] for r in rows] == ["1.41 ± 0.55", "1.87 ± 0.25", "37.28 ± 42.12"]
    # IRVAE's alpha grows with m as default_alpha does: (m / 2)^2 times its m = 2 value
    alphas = [float(r[5]) for r in rows]
    assert alphas[1] == pytest.approx(16 * alphas[0]) and alphas[2] == pytest.approx(64 * alphas[0])
    by = {(r["method"], r["latent_dim"]): r for r in result["rows"]}
    for r in rows:
        mean, std = (float(v) for v in r[2].split(" ± "))
        irvae = by[("IRVAE", int(r[0]))]
        assert mean == pytest.approx(irvae["cond_mean"], rel=1e-3) and std == pytest.approx(irvae["cond_std"], rel=1e-3)
        assert mean >= 1.0  # a condition number
    assert [c["claim"] for c in result["claims"]][:2] == [
        "IRVAE MCN <= 1.8 at m = 8", "IRVAE's condition numbers far below VAE's at m = 8 (at least 10x)"]
    assert_png(tmp_path / "mnist-latent-dims" / "condition_numbers.png")


def test_cmu_tradeoff_tiny_runs_on_the_synthetic_stand_in_and_says_so(tmp_path):
    result = reproduce("cmu-tradeoff", tmp_path, "tiny")
    md = (tmp_path / "cmu-tradeoff" / "results.md").read_text()
    assert "synthetic stand-in" in md and "not a reproduction" in result["data"]
    assert "| paper | 1.720e-04 | 4.86 | 20.3 |" in md  # Section 5.1.2's VAE beside ours
    assert [r[0] for r in table_rows(md)].count("IRVAE+FM") == 2
    assert_png(tmp_path / "cmu-tradeoff" / "tradeoff.png")


@pytest.mark.skipif(not CMU.is_dir(), reason="the shared CMU trials (../shared/data/cmu) are absent")
def test_cmu_plan_reads_the_real_trials_with_the_cmu_preset():
    p = plan("cmu-tradeoff", "quick", str(CMU))
    cfg = next(j.cfg for j in p.jobs if j.key == "vae")
    assert cfg.data.name == "cmu" and Path(cfg.data.root) == CMU.resolve()
    assert cfg.model.hidden == [512, 512] and cfg.model.out_act == "tanh" and cfg.train.epochs == 20
    assert cfg.model.fixed_sigma == 0.05 and cfg.train.lr_schedule == "constant"


def test_isometry_vs_scaled_tiny_has_a_curve_per_k(tmp_path):
    result = reproduce("isometry-vs-scaled", tmp_path, "tiny")
    methods = [r["method"] for r in result["rows"]]
    assert methods == ["IRVAE", "IRVAE", "ISOVAE k=1", "ISOVAE k=1", "ISOVAE k=100", "ISOVAE k=100"]
    assert [c["claim"] for c in result["claims"]][:2] == [
        "IRVAE's points lie below strict isometry's with k = 1 for most alpha",
        "IRVAE's points lie below strict isometry's with k = 100 for most alpha"]
    assert_png(tmp_path / "isometry-vs-scaled" / "tradeoff.png")


def test_celeba_retrieval_tiny_tables_p_at_k_beside_table_1(tmp_path):
    reproduce("celeba-retrieval", tmp_path, "tiny")
    rows = table_rows((tmp_path / "celeba-retrieval" / "results.md").read_text())
    assert [r[0] for r in rows] == ["VAE (ours)", "VAE (paper)", "FMVAE (ours)", "FMVAE (paper)", "IRVAE (ours)",
                                    "IRVAE (paper)", "IRVAE+FM (ours)", "IRVAE+FM (paper)"]
    assert rows[1][1:] == ["60", "60.5", "61", "58.4", "39.8", "38.7", "37", "34.7"]
    for r in rows[::2]:
        assert all(0 <= float(c) <= 100 for c in r[1:])
    assert_png(tmp_path / "celeba-retrieval" / "retrieval.png")


def test_full_and_quick_modes_use_the_presets_settings():
    full = plan("mnist-tradeoff", "full", "/data/mnist")
    paper = preset_config("mnist-fc", paper=True)
    vae = full.jobs[0].cfg
    assert (vae.data.name, vae.train.epochs, vae.train.lr, vae.train.lr_schedule) == ("mnist", 300, 1e-4, "constant")
    assert vae.model.hidden == paper.model.hidden
    quick = plan("mnist-tradeoff", "quick")
    assert quick.jobs[0].cfg.data.name == "mnist5k" and quick.settings["alphas"]["ir"] == [100.0, 1000.0, 10000.0]
    celeba = plan("celeba-retrieval", "full", "/data/celeba")
    # Appendix D.3: IRVAE alpha 10, FMVAE 1, FM beta 100 and lr 1e-5
    keys = [j.key for j in celeba.jobs]
    assert keys == ["vae", "fmvae-a1", "irvae-a10", "irvae-a10-fm"]
    assert (celeba.jobs[3].fcfg.beta, celeba.jobs[3].fcfg.lr) == (100.0, 1e-5)


def test_missing_data_root_and_unknown_experiment_are_one_sentence(tmp_path, capsys):
    with pytest.raises(ReproductionError, match="give --data-root DIR"):
        plan("cmu-tradeoff", "quick")
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "cmu-tradeoff", "--quick", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "give --data-root DIR" in err and "Traceback" not in err
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
