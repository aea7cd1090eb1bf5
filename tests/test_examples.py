"""Shipped example runs: they load, their stored evaluation is a fresh evaluation, they are made
deterministically, and nothing in the app writes, resumes or deletes them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from irvae_core.data import load_run_data
from irvae_core.experiments.examples import (
    EXAMPLES,
    KEPT_FILES,
    PAGE_EXAMPLES,
    Example,
    all_runs,
    evaluation_mismatches,
    example_runs,
    generate_examples,
    page_dataset,
    page_default,
)
from irvae_core.experiments.jobs import JobManager
from irvae_core.experiments.reproduce import SUITE_SIZE
from irvae_core.retrieval.embeddings import (
    ATTRIBUTE_DATASETS,
    SHIPPED_CACHE,
    cache_root,
    encode_images,
    run_embeddings,
)
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import EXAMPLE_MARKER, ReadOnlyRun, save_checkpoint
from irvae_core.store.runs import Run
from irvae_core.store.summaries import run_row
from irvae_core.train.trainer import train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # evaluates every shipped example, trains tiny ones

ROOT = Path(__file__).resolve().parent.parent
SMALL_SUITE = dict(SUITE_SIZE["tiny"])  # 4 pairs: the default suite's 64 geodesics were most of making these
TINY = (Example("tiny-vae", "a tiny VAE", lambda: tiny_config(**{"train.epochs": 2}), suite=SMALL_SUITE),
        Example("tiny-irvae", "a tiny IRVAE", lambda: tiny_config(**{"train.epochs": 2, "reg.kind": "ir",
                                                                      "reg.alpha": 10.0}), suite=SMALL_SUITE),
        Example("tiny-irvae-fm", "its flattening", None, base="tiny-irvae",
                flatten={"epochs": 1, "depth": 2, "width": 16}, suite=SMALL_SUITE))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_examples(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    generate_examples(out=out, examples=TINY)
    return out


def test_the_shipped_examples_are_all_there_and_small(shipped_examples):
    runs = example_runs(shipped_examples)
    assert [r.name for r in runs] == [e.name for e in EXAMPLES]
    for run in runs:
        files = sorted(p.name for p in run.path.iterdir())
        faces = run.config().data.name in ATTRIBUTE_DATASETS  # + cache/: Face retrieval's embeddings
        assert files == sorted([*KEPT_FILES, EXAMPLE_MARKER, *([SHIPPED_CACHE] if faces else [])]), run.name
        state = torch.load(run.file("best.pt"), weights_only=True)
        assert set(state) == {"model", "epoch"}  # one checkpoint, no optimizer state
    size = sum(p.stat().st_size for p in shipped_examples.rglob("*") if p.is_file())
    assert size < 20 * 2**20


@pytest.mark.parametrize("name", [e.name for e in EXAMPLES])
def test_each_shipped_example_loads_and_its_stored_evaluation_is_a_fresh_one(shipped_examples, name):
    run = Run(shipped_examples / name)
    before = digest(run.path)
    model = load_model(run)
    assert not model.training
    assert evaluation_mismatches(run) == []
    assert digest(run.path) == before  # evaluating an example stores nothing in it


def test_the_readmes_table_of_examples_is_their_stored_test_evaluation(shipped_examples):
    """Each row of the README's examples table (test MSE, MCN, VoR) is its example's evaluation.json to the digits
    shown, on the test split of the example's own data (the mocap pair's: cmu-sample's), IRVAE's MCN below the VAE's."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| example | test MSE | MCN | VoR |")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        name, *cells = (c.strip() for c in line.strip("|").split("|"))
        rows[name.split(" ")[0]] = (name, cells)
    assert sorted(rows) == sorted(e.name for e in EXAMPLES)
    for example, (label, cells) in rows.items():
        ev = json.loads((shipped_examples / example / "evaluation.json").read_text())
        assert ev["split"] == "test", example
        if "(" in label and not label.split("(")[1].startswith("α"):
            assert label.split("(")[1].split(",")[0].rstrip(")") == ev["dataset"], example
        for key, shown in zip(("mse", "mcn", "vor"), cells):
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            assert abs(ev[key] - float(shown)) <= 0.5 * 10 ** -decimals + 1e-12, (example, key, shown, ev[key])
    for pair in ("mnist5k", "mocap", "faces"):
        assert float(rows[f"{pair}-irvae"][1][1]) < float(rows[f"{pair}-vae"][1][1]), pair


@pytest.mark.parametrize("name", [e.name for e in EXAMPLES if e.name.startswith("faces")])
def test_a_face_example_ships_its_embeddings_and_retrieval_reads_them(shipped_examples, name, tmp_path,
                                                                      monkeypatch):
    run = Run(shipped_examples / name)
    assert run.config().data.name in ATTRIBUTE_DATASETS
    monkeypatch.setenv("IRVAE_CACHE", str(tmp_path / "cache"))
    model = load_model(run)
    for split in ("train", "test"):
        emb = run_embeddings(run, split)
        data = load_run_data(run.config().data)
        z, y = encode_images(model.encode, getattr(data, split))  # a fresh encoding of every face of the split
        # The shipped codes were encoded on another CPU: its convolution kernels sum in another order, and a fresh
        # encoding on an AVX-512 EPYC differed by up to 2.5e-6 (codes of order 1); another model's codes differ by ~0.1.
        torch.testing.assert_close(emb.z, z, rtol=1e-5, atol=2e-5)
        assert torch.equal(emb.attributes, y > 0) and emb.names == list(data.label_names)
    assert not any(cache_root().rglob("*.pt"))  # read from the example's own cache/, nothing computed or written
    assert sorted(p.name.split("-")[1] for p in (run.path / SHIPPED_CACHE).iterdir()) == ["test", "train"]


def test_an_example_that_differs_from_its_evaluation_is_reported(tiny_examples, tmp_path):
    import shutil

    copy = tmp_path / "tiny-vae"
    shutil.copytree(tiny_examples / "tiny-vae", copy)
    ev = json.loads((copy / "evaluation.json").read_text())
    (copy / "evaluation.json").write_text(json.dumps({**ev, "mse": ev["mse"] * 1.001}))
    problems = evaluation_mismatches(Run(copy))
    assert len(problems) == 1 and problems[0].startswith("tiny-vae: mse stored")


def test_generation_is_deterministic_to_the_byte(tiny_examples, tmp_path):
    again = tmp_path / "again"
    generate_examples(["tiny-vae", "tiny-irvae", "tiny-irvae-fm"], again, examples=TINY)
    for example in TINY:
        first, second = digest(tiny_examples / example.name), digest(again / example.name)
        assert first == second, example.name  # config, metrics, status, evaluation and best.pt, byte for byte
    pairs = json.loads((again / "tiny-irvae" / "distances.json").read_text())["pairs"]
    assert len(pairs) == SMALL_SUITE["suite_pairs"]  # the example's own suite size
    raw = json.loads((again / "tiny-irvae-fm" / "config.json").read_text())
    assert raw["type"] == "flatten" and raw["base_run"] == "tiny-irvae"  # no path of the machine that made it
    assert load_model(Run(again / "tiny-irvae-fm")).fm is not None


def test_generation_refuses_an_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="unknown example 'nope'; choose from tiny-vae"):
        generate_examples(["nope"], tmp_path, examples=TINY)


def test_the_run_store_refuses_every_write_to_an_example(tiny_examples):
    run = Run(tiny_examples / "tiny-irvae")
    before = digest(run.path)
    writes = [lambda: run.set_status("running"), lambda: run.log_metrics({"epoch": 3}),
              lambda: run.write_config(run.config()), lambda: run.truncate_metrics(0),
              lambda: save_checkpoint(run.file("last.pt"), {"model": {}})]
    for write in writes:
        with pytest.raises(ReadOnlyRun, match="tiny-irvae is a shipped example run and read-only"):
            write()
    assert digest(run.path) == before


def test_the_job_manager_never_resumes_an_example(tiny_examples, tmp_path):
    jm = JobManager(tmp_path / "runs", evaluate=False)
    before = digest(tiny_examples / "tiny-vae")
    with pytest.raises(ReadOnlyRun, match="resuming it is refused"):
        jm.resume(tiny_examples / "tiny-vae")
    assert jm.jobs() == [] and digest(tiny_examples / "tiny-vae") == before


def test_flattening_an_example_writes_a_new_run_of_the_user(tiny_examples, tmp_path):
    from irvae_core.train.flattening import FlattenConfig

    jm = JobManager(tmp_path / "runs", evaluate=False)
    before = digest(tiny_examples / "tiny-vae")
    job = jm.wait(jm.submit_flatten(tiny_examples / "tiny-vae", FlattenConfig(epochs=1, depth=2, width=8)), 120)
    assert job.state == "done" and Path(job.runs[0]).parent == tmp_path / "runs"
    assert digest(tiny_examples / "tiny-vae") == before


def test_pages_list_examples_after_the_users_runs_and_open_on_the_pages_pair(shipped_examples, tmp_path):
    mine = train(tiny_config(**{"train.epochs": 1}), str(tmp_path))
    listed = all_runs(tmp_path)
    assert listed[0].path == mine.path and [r.name for r in listed[1:]] == [e.name for e in EXAMPLES]
    rows = [run_row(r) for r in listed]
    assert [row["example"] for row in rows] == [False] + [True] * len(EXAMPLES)
    assert rows[1]["run"] == "mnist5k-vae (example)" and rows[0]["run"] == mine.name
    paths = [str(r.path) for r in listed]
    assert page_default("latent", paths) == [str(mine.path)]  # the user's own run first
    for page, pair in PAGE_EXAMPLES.items():  # no runs of their own: the page's example pair
        assert [Path(p).name for p in page_default(page, paths[1:])] == list(pair)


def test_the_tradeoff_page_opens_on_the_users_data_set_else_the_examples_mnist():
    ex = [{"dataset": d, "run": f"{d}-vae (example)"} for d in ("cmu-sample", "mnist5k", "synthetic-faces")]
    assert page_dataset(ex) == "mnist5k"
    assert page_dataset([*ex, {"dataset": "digits", "run": "digits-vae-ir-1"}]) == "digits"
    assert page_dataset(ex[:1]) == "cmu-sample" and page_dataset([]) is None


def test_lab_examples_check_and_list(tiny_examples):
    env_run = [sys.executable, "-m", "irvae_core", "examples", "--out", str(tiny_examples)]
    listed = subprocess.run([*env_run, "--list"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "mnist5k-vae      missing" in listed.stdout
    checked = subprocess.run([*env_run, "--check", "mnist5k-vae"], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert checked.returncode == 2
    assert checked.stderr.strip().splitlines()[-1].startswith("error: example mnist5k-vae is not in")


def test_on_the_shipped_faces_irvae_retrieves_better_than_the_vae(shipped_examples, tmp_path, monkeypatch):
    """Single-attribute retrieval (paper Section 5.2, Table 1): SAR P@5 of the IRVAE example above the VAE's."""
    from irvae_core.retrieval.evaluation import evaluate_retrieval

    monkeypatch.setenv("IRVAE_CACHE", str(tmp_path / "cache"))  # examples are read-only: codes cached here
    shipped = {name: digest(shipped_examples / name / SHIPPED_CACHE) for name in ("faces-vae", "faces-irvae")}
    p5 = {name: evaluate_retrieval(str(shipped_examples / name))["SAR"]["mean"]["P@5"]
          for name in ("faces-vae", "faces-irvae")}
    assert p5["faces-irvae"] > p5["faces-vae"] + 0.1, p5  # 10 attributes x 5 results: 0.1 is 5 more hits
    assert {name: digest(shipped_examples / name / SHIPPED_CACHE) for name in shipped} == shipped  # nothing written


def test_the_shipped_mnist_pairs_suite_shows_irvaes_distances_following_its_geodesics(shipped_examples):
    from irvae_core.geometry.distances import agreement_scores

    suites = {}
    for name in ("mnist5k-vae", "mnist5k-irvae"):
        stored = json.loads((shipped_examples / name / "evaluation.json").read_text())["distances"]
        detail = json.loads((shipped_examples / name / "distances.json").read_text())
        # the stored headline is what its own pairs give, every length certified
        assert agreement_scores(detail["latent"], detail["geodesic"]) == pytest.approx(
            (stored["geo_spearman"], stored["geo_pearson"], stored["geo_ratio_cv"]))
        assert stored["geo_pairs"] == len(detail["latent"]) == 64 and all(detail["certified"])
        suites[name] = stored
    vae, irvae = suites["mnist5k-vae"], suites["mnist5k-irvae"]
    assert irvae["geo_spearman"] > vae["geo_spearman"] and irvae["geo_ratio_cv"] < vae["geo_ratio_cv"]
