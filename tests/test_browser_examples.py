"""End to end, as a new user: `streamlit run app.py` on an empty runs folder, in headless Chromium. The
shipped examples are on screen without any training: the Home comparison with its 2 x 200 ellipses, and
an example already shown on every page opened first by its deep link in a new session (one server for the module:
after its first test the server's caches are warm, so only that test sees a cold server). How long the Home
comparison takes after the page load is a benchmark (bench/home_page.py), not a test: a wall-clock bar in a test
fails on a loaded machine and passes on a fast one whatever the code does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM, server

pytestmark = [pytest.mark.slow,  # a real server and headless Chromium
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver: apt-get install chromium chromium-driver")]
ROOT = Path(__file__).resolve().parents[1]

# the latent figure's subplot titles (plotly annotations), once both example views are drawn
TITLES_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(gd =>
    ((gd._fullLayout || {}).annotations || []).map(a => a.text))
"""
# the text of the page (also SVG text and the chosen runs of a multiselect), once the script has finished
PAGE_TEXT_JS = """
const running = document.querySelector('[data-testid="stStatusWidget"]');
return running ? '' : document.querySelector('[data-testid="stMain"], .main, body').textContent
"""
# what each page shows of an example once it has drawn (deep link -> a text found on the page)
DEEP_LINKS = {
    "train": "mnist5k-vae (example)",
    "latent": "mnist5k-irvae (example)",
    "tradeoff": "mnist5k-irvae (example)",
    "interpolation": "mnist5k-irvae (example)",
    "retrieval": "faces-irvae (example)",
    "mocap": "mocap-irvae (example)",
    "distances": "mnist5k-irvae (example) · Spearman",
}


def wait_for(driver, check, timeout: float):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return None


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    """One server for the module (each test loads its own page, so its own session's first visit): an empty runs folder,
    no user runs, and the repository's shipped examples (named here: it starts before the tests' own fixtures)."""
    tmp_path = tmp_path_factory.mktemp("fresh")
    with server(tmp_path / "runs", tmp_path / "streamlit.log", env={"IRVAE_EXAMPLES": str(ROOT / "examples")}) \
            as (url, _):
        yield url


def test_home_shows_the_example_ellipses_without_training(fresh_app, tmp_path, driver):
    driver.get(fresh_app)  # returns at the page's load event
    loaded = time.time()
    titles = wait_for(driver, lambda: [t for t in driver.execute_script(TITLES_JS) if "(example)" in t], 120)
    elapsed = time.time() - loaded
    shot = tmp_path / "home-examples.png"
    driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "home-examples.png"))
    assert titles == ["VAE · mnist5k-vae (example)", "IRVAE · mnist5k-irvae (example)"], titles
    ellipses = driver.execute_script("return document.querySelector('.js-plotly-plot').data"
                                     ".filter(t => t.meta && t.meta.role === 'ellipses')"
                                     ".map(t => [t.xaxis || 'x', t.meta.count])")
    drawn = {axis: sum(c for a, c in ellipses if a == axis) for axis in ("x", "x2")}
    assert drawn == {"x": 200, "x2": 200}, drawn  # 200 ellipses in each panel, the Home page's number
    assert shot.stat().st_size > 10_000
    print(f"example comparison on screen {elapsed:.1f} s after the page load")


@pytest.mark.parametrize("page", list(DEEP_LINKS))
def test_each_page_opened_by_deep_link_shows_an_example(fresh_app, tmp_path, page, driver):
    driver.get(f"{fresh_app}/{page}")  # a new session whose first visit is this page's URL
    text = wait_for(driver, lambda: DEEP_LINKS[page] in (driver.execute_script(PAGE_TEXT_JS) or "")
                    and driver.execute_script(PAGE_TEXT_JS), 180)
    driver.save_screenshot(str(tmp_path / f"{page}.png"))
    assert text, f"/{page} showed no {DEEP_LINKS[page]!r}"
    assert "Traceback" not in text and "No finished run" not in text


def test_the_distances_page_draws_each_examples_stored_pairs_and_rank_errors(fresh_app, shipped_examples, tmp_path,
                                                                              driver):
    import json

    driver.get(f"{fresh_app}/distances")
    figures = wait_for(driver, lambda: (lambda f: f if len(f) == 2 else None)(driver.execute_script(
        # _fullData: the traces as drawn, their typed arrays decoded (gd.data keeps them base64-encoded)
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => (gd._fullData || []).map(t => "
        "[t.xaxis || 'x', t.mode, Array.from(t.x || []).length, Array.from(t.marker && t.marker.color && "
        "t.marker.color.length ? t.marker.color : [])]))")), 180)
    driver.save_screenshot(str(tmp_path / "distances.png"))
    agreement, distortion = figures
    for axis, name in (("x", "mnist5k-vae"), ("x2", "mnist5k-irvae")):
        stored = json.loads((shipped_examples / name / "distances.json").read_text())
        dots = sum(n for a, mode, n, _ in agreement if a == axis and mode == "markers")
        assert dots == len(stored["latent"]), (name, dots)
        (colours,) = [c for a, mode, n, c in distortion if a == axis and mode == "markers"]
        assert colours == pytest.approx(stored["rank_error"], abs=1e-6)
