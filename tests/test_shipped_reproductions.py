"""The quick reproductions shipped in examples/reproductions: results only, each table what the report code renders
from its results.json today, and the Tradeoff page showing them on a fresh install."""

import json
from pathlib import Path

import pytest
from PIL import Image

from irvae_core.experiments.reproduce import judge, list_reproductions, shipped_reproductions_dir
from irvae_core.experiments.reproduce.plan import EXPERIMENTS
from irvae_core.experiments.reproduce.report import claim_lines, render_markdown
from tests.app_helpers import open_page

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent.name for p in (ROOT / "examples" / "reproductions").glob("*/results.json"))
# (tests/test_reproduce.py ships a tiny reproduction into a test's own folder and opens the page on it)
pytestmark = [pytest.mark.slow,  # AppTest on the shipped reproductions
              pytest.mark.skipif(not SHIPPED, reason="no reproduction is shipped yet: ./lab reproduce EXPERIMENT "
                                                     "--quick --ship puts one in examples/reproductions")]


@pytest.mark.parametrize("name", SHIPPED or ["none"])
def test_each_shipped_table_is_what_the_report_renders_from_its_results(shipped_examples, name):
    folder = shipped_reproductions_dir() / name
    result = json.loads((folder / "results.json").read_text())
    assert (folder / "results.md").read_text() == render_markdown(result)
    assert result["claims"] == judge(result)  # the verdicts of today's rules (verdicts.py) on its stored points
    assert result["experiment"] in EXPERIMENTS and result["mode"] == "quick" and not result["missing"]
    assert result["folder"] == name and len(result["seeds"]) >= 2  # no machine path; verdicts need a spread
    assert result["command"].startswith(f"python -m irvae_core reproduce {result['experiment']} --quick")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["results.json", "results.md", *result["figures"]])
    for figure in result["figures"]:
        with Image.open(folder / figure) as im:
            assert im.format == "PNG"


def test_the_tradeoff_page_shows_the_shipped_comparison_with_no_runs(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("IRVAE_REPRODUCTIONS", str(tmp_path / "reproductions"))
    shipped = list_reproductions()
    assert [r["name"] for r in shipped] == sorted(SHIPPED, key=lambda n: list(EXPERIMENTS).index(
        json.loads((shipped_reproductions_dir() / n / "results.json").read_text())["experiment"]))
    at = open_page("app_pages/tradeoff.py")
    assert not at.exception and not at.error
    chooser = next(s for s in at.selectbox if s.label == "Reproduction")
    assert chooser.value == f"{shipped[0]['name']} (quick mode, shipped)"  # in the experiments' order
    assert len(at.get("image")) == len(shipped[0]["figures"])
    claims = [m.value for m in at.markdown if claim_lines(shipped[0])[0] in m.value]
    assert claims  # the verdicts of the shipped points
    assert any(c.value.startswith("Shipped with IRVAE Lab") for c in at.caption)
