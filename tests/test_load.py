"""The app shared: eight visitors at once on a real server while four jobs train, bounded caches, and one
visitor's upload never reaching another (bench/load_trial.py prints the trial's numbers)."""

import ast
import io
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import CHROMEDRIVER, CHROMIUM, FIRST_POINT_JS, chrome, waiter
from tests.load_trial import Visitor, agent_server, nodes, run_trial

pytestmark = pytest.mark.slow  # a real server under load

ROOT = Path(__file__).resolve().parents[1]
MAX_JOBS = 2


def test_every_streamlit_cache_of_the_app_has_a_size_limit():
    """The server's memory stays bounded: each st.cache_resource / st.cache_data keeps at most max_entries."""
    caches = []
    for path in [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("cache_resource", "cache_data"):
                limit = {k.arg: k.value for k in node.keywords}.get("max_entries")
                caches.append((path.name, node.lineno, limit.value if isinstance(limit, ast.Constant) else None))
    assert caches, "the app caches models, data and views"
    assert all(isinstance(limit, int) and limit <= 16 for _, _, limit in caches), caches


@pytest.mark.slow
def test_eight_visitors_tour_every_page_while_four_jobs_train(shipped_examples, tmp_path):
    runs = tmp_path / "runs"
    browser = CHROMIUM and CHROMEDRIVER
    with agent_server(runs, tmp_path / "server.log", max_jobs=MAX_JOBS) as (url, pid):
        other = Visitor(url, "other")  # in upload mode on Face retrieval before the browser uploads
        other.interact("retrieval", page="retrieval")
        other.interact("own photos", widget_state={other.key("Query with"): "my own photos"})
        seen: list[str] = []
        person = threading.Thread(target=browser_visit, args=(url, tmp_path, seen), daemon=True)
        if browser:
            person.start()  # a ninth visitor, in a real browser, during the trial
        result = run_trial(url, pid, runs, visitors=8, jobs=4, deadline_s=420)
        if browser:
            person.join(300)
            assert seen == ["latent click", "upload queried"], seen
        other.interact("rerun")  # after the browser's upload: still nothing uploaded in this session
    assert not result.problems and not other.problems, (result.problems + other.problems)[:5]
    assert all(len(v.seconds) == 11 for v in result.visitors)  # every page and interaction answered
    assert 1 <= result.max_running <= MAX_JOBS, result.running_seen  # the queue honours IRVAE_MAX_JOBS
    assert sorted(p.name.split("-20")[0] for p in runs.glob("load-*")) == [f"load-{i}" for i in range(4)]
    assert 0 < result.peak_rss_mib < 4096, result.peak_rss_mib
    assert any("Upload one or more photos" in s for s in other.texts("info")), other.texts("info")
    assert not [n for n in nodes(other.snapshot["tree"]) if n["type"] == "plotly_chart"]  # no query of its own


def browser_visit(url: str, tmp_path: Path, seen: list[str]) -> None:
    """A person in headless Chromium: a click on the latent plane shows that digit, then a photo upload queries."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    photo = tmp_path / "me.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 40, 40)).save(buf, format="JPEG")
    photo.write_bytes(buf.getvalue())
    driver = chrome(tmp_path)
    try:
        wait = waiter(driver, 240)
        driver.get(f"{url}/latent")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer path.js-line"))
        time.sleep(1.0)
        x, y, width, height = driver.execute_script(FIRST_POINT_JS)
        plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
        ActionChains(driver).move_to_element_with_offset(plot, int(x - width / 2), int(y - height / 2)).click() \
            .perform()
        wait.until(lambda d: "reconstruction" in d.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text)
        seen.append("latent click")
        driver.get(f"{url}/retrieval")
        own = "//label[.//p[contains(., 'my own photos')]]"
        wait.until(lambda d: d.find_elements(By.XPATH, own))
        driver.find_element(By.XPATH, own).click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo))
        wait.until(lambda d: "as the model sees them" in d.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text)
        seen.append("upload queried")
    finally:
        driver.quit()
