"""The face-retrieval page through Streamlit's AppTest, on two tiny runs trained on synthetic-faces."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from irvae_core.retrieval.embeddings import run_embeddings
from irvae_core.retrieval.protocol import query_by_attributes, query_by_codes
from irvae_core.retrieval.uploads import image_from_bytes
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import open_run
from irvae_core.train.trainer import train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # AppTest on trained face runs

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FACES = {"data.name": "synthetic-faces", "data.options": {"n": 100}, "model.arch": "fc", "model.hidden": [32],
         "model.latent_dim": 4, "model.out_act": "tanh", "train.epochs": 1}


def open_page(runs: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("IRVAE_RUNS", str(runs))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("app_pages/retrieval.py").run()
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(fig: dict) -> list[str]:
    return [a["text"] for a in fig["layout"].get("annotations", [])]


@pytest.fixture(scope="module")
def face_runs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    for name, reg in (("faces-vae", "none"), ("faces-irvae", "ir")):
        cfg = tiny_config(**{**FACES, "reg.kind": reg, "reg.alpha": 1.0})
        cfg.name = name
        train(cfg, str(folder))
    return folder


def test_the_page_says_what_to_do_without_face_runs(tmp_path, monkeypatch):
    train(tiny_config(**{"train.epochs": 1}), str(tmp_path))  # a digits run: no attributes to retrieve by
    at = open_page(tmp_path, monkeypatch)
    assert at.title[0].value == "Face retrieval" and "No finished run on a face data set" in at.info[0].value


def test_two_runs_answer_the_same_attribute_query_with_ticks_and_their_p_at_k(face_runs, monkeypatch):
    at = open_page(face_runs, monkeypatch)
    assert not at.error and len(at.multiselect[0].value) == 2
    at.slider[0].set_value(5).run()
    attrs = next(w for w in at.multiselect if w.label == "Attributes (one or two)")
    attrs.set_value(["Smiling", "Male"]).run()
    assert not at.exception and not at.error
    query, *results = figures(at)
    assert len(results) == 2 and all(len(f["data"]) == 5 for f in results)
    labels = [m.value.strip("*") for m in at.markdown if " · " in m.value]
    for fig, run_path, metric in zip(results, at.multiselect[0].value, at.metric):
        run = open_run(run_path)
        assert any(run.name in label for label in labels)
        expected = query_by_attributes(run_embeddings(run, "train"), run_embeddings(run, "test"), ["Smiling", "Male"],
                                       k=5)
        marks = [[c.count("✓ Smiling") == 1, c.count("✓ Male") == 1] for c in captions(fig)]
        assert marks == expected.marks.tolist() and [t["meta"] for t in fig["data"]] == expected.top.tolist()
        assert len(query["data"]) == min(8, len(expected.query_index))
        assert metric.value == f"{100 * expected.precision[5]:.0f}%"
    assert str(expected.query_index.size) in at.caption[0].value


def test_uploaded_photos_query_each_run_and_a_bad_file_is_one_sentence(face_runs, monkeypatch):
    at = open_page(face_runs, monkeypatch)
    at.radio[0].set_value("my own photos").run()
    assert "Upload one or more photos" in at.info[0].value
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 40, 40)).save(buf, format="JPEG")
    photo = buf.getvalue()
    at.file_uploader[0].set_value([("me.jpg", photo, "image/jpeg")]).run()
    assert not at.exception and not at.error
    query, *results = figures(at)
    assert len(query["data"]) == 1 and [len(f["data"]) for f in results] == [10, 10]
    for fig, run_path in zip(results, at.multiselect[0].value):
        run = open_run(run_path)
        code = load_model(run).encode(image_from_bytes(photo)[None]).detach()
        expected = query_by_codes(code, run_embeddings(run, "test"), k=10)
        assert [t["meta"] for t in fig["data"]] == expected.top.tolist()
        assert [c.split(".")[0] for c in captions(fig)] == [str(i) for i in range(1, 11)]
    at.file_uploader[0].set_value([("notes.png", b"this is not an image", "image/png")]).run()
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value == "Could not retrieve: notes.png is not an image: upload a JPEG or PNG file"


def test_every_hostile_upload_is_one_sentence_on_the_page_and_nothing_is_stored(face_runs, monkeypatch):
    from tests.test_uploads import hostile_files

    def stored() -> set[tuple[str, float]]:
        return {(str(p), p.stat().st_mtime) for p in face_runs.rglob("*") if p.is_file()}

    at = open_page(face_runs, monkeypatch)
    at.radio[0].set_value("my own photos").run()
    before = stored()  # the runs with their embedding caches, written when the page first opened
    for name, (data, says) in hostile_files().items():
        at.file_uploader[0].set_value([(name, data, "image/png" if name.endswith(".png") else "image/jpeg")]).run()
        assert not at.exception, name
        assert [e.value for e in at.error] == [f"Could not retrieve: {at.error[0].value.split(': ', 1)[1]}"], name
        assert says in at.error[0].value and at.error[0].value.count("\n") == 0, name
        assert not at.get("plotly_chart"), name  # no query shown for a refused file
    assert stored() == before  # the runs folder holds no trace of any upload
