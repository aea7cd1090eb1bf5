"""End to end: `streamlit run app.py` serving finished runs of digits, faces and motion capture, every page in
headless Chromium."""

import time

import pytest

from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from tests.browser import (
    ARTIFACTS,
    CHROMEDRIVER,
    CHROMIUM,
    FIRST_POINT_JS,
    server,
    waiter,
)
from tests.helpers import tiny_config

# app.py's navigation: URL path -> (title in the sidebar, the page's heading)
PAGES = {"": ("Home", "IRVAE Lab"), "train": ("Train", "Train"), "latent": ("Latent geometry", "Latent geometry"),
         "tradeoff": ("Tradeoff", "Tradeoff"), "interpolation": ("Interpolation", "Interpolation"),
         "distances": ("Distances", "Distances"),
         "retrieval": ("Face retrieval", "Face retrieval"), "mocap": ("Motion capture", "Motion capture")}

pytestmark = [pytest.mark.slow,  # a real server and headless Chromium
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver: apt-get install chromium chromium-driver")]










# two tiny finished runs on synthetic faces (a VAE and an IRVAE: Face retrieval shows them side by side)
FACES = {"data.name": "synthetic-faces", "data.options": {"n": 100}, "model.arch": "fc", "model.hidden": [32],
         "model.latent_dim": 4, "model.out_act": "tanh", "train.epochs": 1, "reg.alpha": 1.0}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """One server for the module (each test loads its own pages, so its own sessions), serving two face runs, a motion
    capture run and, newest, so the pages of digits open on it, a digits IRVAE; set up before the tests' own
    fixtures, so it is told itself that no example runs are shipped."""
    tmp_path = tmp_path_factory.mktemp("app")
    runs = tmp_path / "runs"
    for reg in ("none", "ir"):
        train(tiny_config(**FACES, **{"reg.kind": reg}), str(runs))
    evaluate_run(train(tiny_config(**{"data.name": "synthetic-mocap", "data.options": {"n": 700}, "train.epochs": 1,
                                      "train.batch_size": 50}), str(runs)))
    evaluate_run(train(tiny_config(**{"train.epochs": 1, "reg.kind": "ir", "reg.alpha": 1.0}), str(runs)))
    with server(runs, tmp_path / "streamlit.log", env={"IRVAE_EXAMPLES": str(tmp_path / "no-examples")}) as (url, _):
        yield url


def test_latent_page_renders_the_plot_in_a_real_browser(app_url, tmp_path, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(f"{app_url}/latent")
    wait = waiter(driver)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")
               and d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer path.js-line")
               and d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'))
    time.sleep(1.0)  # let the WebGL points and the colour bar paint before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "latent_page.png"))
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    assert "Latent geometry" in driver.find_element(By.TAG_NAME, "h1").text
    assert driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .colorbar")
    nav = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"]').text
    assert all(title in nav for title, _ in PAGES.values())  # app.py's whole navigation, after a deep link
    assert "common" not in nav.lower()  # not a folder of files listed as pages

    # clicking a test point shows its input and its reconstruction
    x, y, width, height = driver.execute_script(FIRST_POINT_JS)
    plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
    offset = (int(x - width / 2), int(y - height / 2))  # selenium offsets count from the element's centre
    ActionChains(driver).move_to_element_with_offset(plot, *offset).click().perform()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"] img')) == 2
               and not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))  # the app is idle
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                          driver.find_element(By.CSS_SELECTOR, '[data-testid="stImage"]'))
    driver.save_screenshot(str(ARTIFACTS / "latent_page_selected.png"))
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert "reconstruction" in driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text

    # a click off the data (the grid point furthest from the test points) decodes it and draws its ellipse
    plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
    # the whole plot in view: selenium's offsets count from the centre of the element's visible part
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    x, y, width, height = driver.execute_script(GRID_CORNER_JS)
    offset = (int(x - width / 2), int(y - height / 2))
    ActionChains(driver).move_to_element_with_offset(plot, *offset).click().perform()
    wait.until(lambda d: "Decoded at" in d.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
               and d.execute_script(ROLE_COUNT_JS, "clicked-ellipse") == 1
               and not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    main = driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "Condition number of G" in main and "Eigenvalues of the pullback metric" in main
    driver.save_screenshot(str(ARTIFACTS / "latent_page_decoded.png"))

    # a box over the whole plot (the chart's box-select mode) brushes every test point
    plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    driver.execute_script("arguments[0].click()", driver.find_element(
        By.CSS_SELECTOR, '.js-plotly-plot .modebar-btn[data-val="select"]'))
    x0, y0, x1, y1, width, height = driver.execute_script(PLOT_AREA_JS)
    ActionChains(driver).move_to_element_with_offset(plot, int(x0 - width / 2) + 2, int(y0 - height / 2) + 2) \
        .click_and_hold().move_by_offset(int((x1 - x0) / 2), int((y1 - y0) / 2)) \
        .move_by_offset(int((x1 - x0) / 2) - 4, int((y1 - y0) / 2) - 4).release().perform()
    wait.until(lambda d: "test examples selected" in d.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text)
    main = driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "cond(G) of the selection" in main and "cond(G) of all shown points" in main
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    driver.save_screenshot(str(ARTIFACTS / "latent_page_brushed.png"))


# the pixel position of the latent figure's grid point furthest from every test point, and the plot's size
GRID_CORNER_JS = """
const gd = document.querySelector('.js-plotly-plot');
const grid = gd._fullData.find(t => (t.meta || {}).role === 'grid');
const data = gd._fullData.filter(t => t.type === 'scattergl' && !(t.meta || {}).role && t.xaxis === 'x');
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
let best = 0, far = -1;
for (let i = 0; i < grid.x.length; i++) {
  const gx = xa.l2p(grid.x[i]), gy = ya.l2p(grid.y[i]);
  if (gx < 30 || gy < 40 || gx > xa._length - 30 || gy > ya._length - 30) continue;  // clear of the modebar
  let near = Infinity;
  for (const t of data) for (let j = 0; j < t.x.length; j++)
    near = Math.min(near, Math.hypot(xa.l2p(t.x[j]) - gx, ya.l2p(t.y[j]) - gy));
  if (near > far) { far = near; best = i; }
}
return [xa._offset + xa.l2p(grid.x[best]), ya._offset + ya.l2p(grid.y[best]), box.width, box.height];
"""
ROLE_COUNT_JS = "return document.querySelector('.js-plotly-plot')._fullData.filter(t => (t.meta || {}).role === " \
                "arguments[0]).length"
# the first panel's plotting area in pixels (left, top, right, bottom), and the plot's size
PLOT_AREA_JS = """
const gd = document.querySelector('.js-plotly-plot');
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return [xa._offset, ya._offset, xa._offset + xa._length, ya._offset + ya._length, box.width, box.height];
"""


def test_every_page_url_opens_that_page_inside_the_apps_navigation(app_url, tmp_path, driver):
    """Each page's URL (app.py's url_path), opened first in a new session (a page load), shows that page with the
    app's whole navigation in the sidebar."""
    from selenium.webdriver.common.by import By

    wait = waiter(driver)
    for path, (_, heading) in PAGES.items():
        driver.delete_all_cookies()
        driver.get(f"{app_url}/{path}")
        # the headings and the navigation's text read at one instant (Streamlit replaces elements as a page runs)
        nav = wait.until(lambda d, heading=heading: (lambda s: s[1] if heading in s[0] and s[1] else None)(
            d.execute_script(HEADINGS_AND_NAV_JS)))
        assert all(title in nav for title, _ in PAGES.values()), (path, nav)
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), path


HEADINGS_AND_NAV_JS = """
const nav = document.querySelector('[data-testid="stSidebarNav"]');
return [Array.from(document.querySelectorAll('h1')).map(h => h.innerText.trim()), nav ? nav.innerText : ''];
"""


# pixel position of test point ``i`` of the k-th WebGL trace (a class) inside the first plot, and the plot's size
POINT_JS = """
const gd = document.querySelector('.js-plotly-plot');
const trace = gd._fullData.filter(t => t.type === 'scattergl')[arguments[0]];
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return [xa._offset + xa.l2p(trace.x[0]), ya._offset + ya.l2p(trace.y[0]), box.width, box.height];
"""
PATHS_JS = "return document.querySelector('.js-plotly-plot')._fullData.filter(t => (t.meta || {}).role === " \
           "'geodesic path').length"


def test_interpolation_page_renders_strips_and_takes_two_clicks(app_url, tmp_path, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(f"{app_url}/interpolation")  # a deep link straight to the page
    wait = waiter(driver)
    strips = '[data-testid="stImage"] img'
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, strips)) >= 3  # straight, geodesic, modulation
               and d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer path.js-line"))
    driver.set_window_size(1500, 2600)  # the whole page: plot, strips, speeds and the modulation grid
    time.sleep(1.5)  # let the WebGL points paint before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "interpolation_page.png"))
    driver.set_window_size(1500, 1100)
    assert "Interpolation" in driver.find_element(By.TAG_NAME, "h1").text
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    main = driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "straight line, decoded" in main and "geodesic, decoded" in main and "ratio" in main
    for img in driver.find_elements(By.CSS_SELECTOR, strips):
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0
    assert driver.execute_script(PATHS_JS) == 1

    # pick by clicking: the paths disappear until two test points have been clicked
    driver.find_element(By.XPATH, "//label[.//p[contains(., 'by clicking two points')]]").click()
    wait.until(lambda d: d.execute_script(PATHS_JS) == 0 and "Click a test point" in
               d.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text)
    for k in (0, 1):
        time.sleep(1.0)
        x, y, width, height = driver.execute_script(POINT_JS, k)
        plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
        ActionChains(driver).move_to_element_with_offset(plot, int(x - width / 2), int(y - height / 2)).click() \
            .perform()
    wait.until(lambda d: d.execute_script(PATHS_JS) == 1 and len(d.find_elements(By.CSS_SELECTOR, strips)) >= 3)
    time.sleep(1.0)
    driver.save_screenshot(str(ARTIFACTS / "interpolation_page_clicked.png"))
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')


def test_retrieval_page_shows_a_result_grid_in_a_real_browser(app_url, tmp_path, driver):
    from selenium.webdriver.common.by import By

    driver.set_window_size(1500, 1400)
    driver.get(f"{app_url}/retrieval")  # a deep link, straight to the page
    wait = waiter(driver)
    # the query grid and one result grid per run, each drawn with its images
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) == 3
               and len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .layer-above image, "
                                                        ".js-plotly-plot image")) >= 3
               and len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')) == 2)
    grids = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", grids[1])
    time.sleep(1.0)  # let the images paint before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "retrieval_page.png"))
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    assert "Face retrieval" in driver.find_element(By.TAG_NAME, "h1").text
    text = driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "P@10" in text and ("✓" in text or "✗" in text)
    counts = driver.execute_script("return [...document.querySelectorAll('.js-plotly-plot')]"
                                   ".map(gd => gd._fullData.filter(t => t.type === 'image').length)")
    assert counts[1:] == [10, 10]




# 3-D scenes of the plotly figures drawn so far, each with a WebGL canvas; the first plot is the latent one
SCENES_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => gd._fullLayout && gd._fullLayout.scene
    && gd.querySelector('.gl-container canvas')).length
"""
SECOND_CLASS_POINT_JS = """
const gd = document.querySelector('.js-plotly-plot');
const trace = gd._fullData.filter(t => t.type === 'scattergl')[1];
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return [xa._offset + xa.l2p(trace.x[0]), ya._offset + ya.l2p(trace.y[0]), box.width, box.height, trace.customdata[0]];
"""


def test_mocap_page_draws_the_clicked_pose_in_3d(app_url, tmp_path, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(f"{app_url}/mocap")  # a deep link straight to the page
    wait = waiter(driver)
    heading = "//h3[starts-with(normalize-space(.), 'Test pose #')]"
    wait.until(lambda d: d.find_elements(By.XPATH, heading) and d.execute_script(SCENES_JS) >= 2)  # pose, walk
    assert "Motion capture" in driver.find_element(By.TAG_NAME, "h1").text
    assert ": walking (" in driver.find_element(By.XPATH, heading).text  # before a click: a walking pose
    plot = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)  # whole: offsets from its centre
    time.sleep(1.0)
    x, y, width, height, index = driver.execute_script(SECOND_CLASS_POINT_JS)  # a jogging pose
    ActionChains(driver).move_to_element_with_offset(plot, int(x - width / 2), int(y - height / 2)).click() \
        .perform()
    wait.until(lambda d: d.find_element(By.XPATH, heading).text.startswith(f"Test pose #{index}: jogging")
               and d.execute_script(SCENES_JS) >= 2)
    pose = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[1]  # the 3-D skeletons, after the latent plot
    assert driver.execute_script("return arguments[0]._fullLayout.scene3 === undefined && "
                                 "!!arguments[0]._fullLayout.scene2", pose)  # captured and one decoded
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", pose)
    time.sleep(1.5)  # let WebGL paint the skeletons
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "mocap_page_clicked.png"))
    canvas = pose.find_element(By.CSS_SELECTOR, ".gl-container canvas")
    assert canvas.size["width"] > 100 and canvas.size["height"] > 100
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    main = driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "RMS joint distance to the captured pose" in main and "max/min speed" in main
