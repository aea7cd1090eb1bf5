"""A copied link opens the same view (issue 26): every page keeps its runs and main choices in the URL
(st.query_params); a link naming what is not here gets one sentence per value and the page's default."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_helpers import APP, widget

pytestmark = pytest.mark.slow  # the app in AppTest on the shipped examples

RUNS = "Runs (one, or two side by side)"


def opening(page: str, link: dict[str, str]) -> AppTest:
    """A new session whose first page is ``page`` at the link's query parameters."""
    at = AppTest.from_file(APP, default_timeout=240).run()
    for key, value in link.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def names(values: list[str]) -> list[str]:
    return [v.rstrip("/").rsplit("/", 1)[-1] for v in values]


@pytest.mark.parametrize("page,link,label,widgets", [
    ("app_pages/retrieval.py", {"runs": "faces-irvae", "k": "5", "attributes": "Eyeglasses"}, RUNS,
     {("slider", "Results per run (K)"): 5, ("multiselect", "Attributes (one or two)"): ["Eyeglasses"]}),
    ("app_pages/distances.py", {"runs": "mnist5k-vae", "against": "decodings"}, RUNS,
     {("radio", "Neighbours in"): "decodings"}),
    ("app_pages/interpolation.py", {"runs": "mnist5k-irvae", "n": "8"}, RUNS,
     {("slider", "Points per path"): 8}),
    ("app_pages/mocap.py", {"runs": "mocap-vae", "n": "12"}, "Runs (one, or a VAE and an IRVAE side by side)",
     {("slider", "Poses per walk"): 12}),
])
def test_each_page_opens_the_view_its_link_names(shipped_examples, tmp_path, monkeypatch, page, link, label, widgets):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = opening(page, link)
    assert not at.warning and not at.error
    assert names(widget(at.multiselect, label).value) == link["runs"].split(",")
    for (kind, name), value in widgets.items():
        assert widget(getattr(at, kind), name).value == value
    assert dict(at.query_params) == {k: [v] for k, v in link.items()} or \
        {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()} == link


def test_the_tradeoff_page_keeps_its_data_set_and_geometry_in_the_link(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = opening("app_pages/tradeoff.py", {"geometry": "encoded", "dataset": "cmu-sample"})
    assert not at.warning and widget(at.radio, "Geometry measured on").value == "encoded"
    assert widget(at.selectbox, "Dataset").value == "cmu-sample"


def test_a_stale_link_gets_one_sentence_per_value_and_the_pages_default(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = opening("app_pages/retrieval.py", {"runs": "faces-irvae,deleted-run", "k": "7", "attributes": "Wings"})
    assert len(at.warning) == 3 and not at.error
    text = " ".join(w.value for w in at.warning)
    assert "runs=faces-irvae,deleted-run is not available here (no finished run named deleted-run)" in text
    assert "k=7" in text and "attributes=Wings" in text and "no attribute Wings" in text
    assert names(widget(at.multiselect, RUNS).value) == ["faces-vae", "faces-irvae"]  # the page's pair
    assert widget(at.slider, "Results per run (K)").value == 10
