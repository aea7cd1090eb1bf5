"""A runs folder of 500 runs, a few of them corrupt or half-written: every page that lists runs renders, and the
damaged ones are listed as unreadable with the reason (bench/many_runs.py measures what a rerun costs)."""

import pytest

from irvae_core.experiments.examples import all_runs
from irvae_core.store.summaries import run_row
from tests.app_helpers import open_page
from tests.many_runs import BROKEN, make_runs

pytestmark = pytest.mark.slow  # 500 runs written, eight pages opened on them


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowded") / "runs"
    return root, make_runs(root, 500)


def test_the_listing_reads_every_run_and_names_what_is_damaged_in_each(crowded):
    root, made = crowded
    rows = {r["run"].split("-2026")[0].split("-20")[0]: r for r in (run_row(run) for run in all_runs(root))}
    assert len(rows) == 500
    unreadable = {row["run"]: row["error"] for row in rows.values() if row["state"] == "unreadable"}
    files = {BROKEN[kind][0] for kind in ("torn-config", "garbage-config", "torn-status", "torn-evaluation")}
    assert len(unreadable) == 4
    assert {e.split("/")[-1].split(" ")[0] for e in unreadable.values()} == files
    assert all("is not readable JSON" in e for e in unreadable.values())
    torn_metrics = made["torn-metrics"][0].name
    assert next(r for r in rows.values() if r["run"] == torn_metrics)["state"] != "unreadable"  # a torn last line
    # of metrics is what a crash mid-write leaves: the run is still listed, its whole lines kept


PAGES = ["app_pages/train.py", "app_pages/latent.py", "app_pages/tradeoff.py", "app_pages/interpolation.py",
         "app_pages/distances.py", "app_pages/retrieval.py", "app_pages/mocap.py", "app_pages/home.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_500_runs(crowded, page, monkeypatch):
    root, _ = crowded
    monkeypatch.setenv("IRVAE_RUNS", str(root))
    at = open_page(page)
    assert not at.exception
    if page == "app_pages/train.py":
        table = at.dataframe[0].value
        assert len(table) == 500
        assert (table["state"] == "unreadable").sum() == 4
        errors = [e.value for e in at.error]
        assert sum("unreadable" in e and "is not readable JSON" in e for e in errors) == 4
        assert all("\n" not in e for e in errors)
