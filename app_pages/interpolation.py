"""Interpolation: straight lines and geodesics between two test examples, and axis modulation (paper Figs. 6-7)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import (
    cached_data,
    cached_model,
    cached_view,
    friendly_errors,
    from_link,
    link_int,
    publish_link,
    run_picker,
    seed,
    shared_geodesic,
)
from irvae_core import viz
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.geometry.curves import Geodesic
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import checkpoint_mtime, run_row
from irvae_core.views.interpolation import (
    certification,
    class_members,
    example_geodesic,
    example_modulation,
    interpolation_problem,
    random_pair,
    view_classes,
)

PICK = ["by class and index", "at random", "by clicking two points on the plot"]
PLOT = "interpolation-plot"


def by_class(view, side: str, col, default_class: int) -> int:
    """A test index chosen as 'the k-th shown example of class c'."""
    classes = view_classes(view)
    names = view.label_names
    c = col.selectbox(f"{side}: class", classes, index=min(default_class, len(classes) - 1), key=f"class-{side}",
                      format_func=lambda c: names[c] if 0 <= c < len(names) else str(c))
    members = class_members(view, c)
    k = col.number_input(f"{side}: which one of that class", 0, len(members) - 1, 0, key=f"nth-{side}")
    return int(members[int(k)])


def clicked_pair(fig) -> tuple[int, int] | None:
    """The last two test points clicked on the plot (read before the plot is drawn again)."""
    points = ((st.session_state.get(PLOT) or {}).get("selection") or {}).get("points", [])
    picked = [ex[1] for ex in (viz.selected_example(fig, p) for p in points) if ex is not None]
    clicks = st.session_state.setdefault("clicks", [])
    if len(picked) >= 2:
        clicks[:] = picked[-2:]
    elif picked and (not clicks or clicks[-1] != picked[0]):
        clicks[:] = (clicks + picked)[-2:]
    return (clicks[0], clicks[1]) if len(clicks) == 2 else None


def geodesic_of(path: str, mtime: float | None, method: str, i: int, j: int, n_points: int) -> Geodesic:
    """The run's geodesic between test examples i and j: found once per server by the first session to ask, with a
    progress bar there; a session asking meanwhile waits for that one instead of finding it again."""
    note = []  # the waiting sentence's place, made when a wait begins

    def find() -> Geodesic:
        bar = st.progress(0.0, text=f"Finding the geodesic of {method}...")
        geo = example_geodesic(cached_model(path, mtime), cached_data(path), i, j, n_points, progress=lambda f, e:
                               bar.progress(f, text=f"Finding the geodesic of {method}: energy {e:.4g}"))
        bar.empty()
        return geo

    def waiting() -> None:
        note[:] = note or [st.empty()]
        note[0].info(f"Another session is finding the geodesic of {method}: it shows here when found.")

    geo = shared_geodesic(path, mtime, i, j, n_points).get(find, waiting)
    for place in note:
        place.empty()
    return geo


@st.cache_data(max_entries=16, show_spinner="Encoding the training data and decoding the grid...")
def modulation(path: str, mtime: float | None, index: int, k: int, kind: str, top: int | None):
    return example_modulation(cached_model(path, mtime), cached_data(path), index, k, kind, top)


st.title("Interpolation")
every = all_runs(default_runs_dir())
problems = {str(r.path): interpolation_problem(r) for r in every}
runs = {str(r.path): r for r in every if problems[str(r.path)] is None}
info = {p: run_row(r) for p, r in runs.items()}
if not runs:
    st.info("No finished runs yet: start the quick start on Home, or train a run on the Train page.")
    st.page_link("app_pages/train.py", label="Go to Train")
for sentence in filter(None, problems.values()):
    st.warning(sentence)
if not runs:
    st.stop()

choice = run_picker("interpolation-runs", "Runs (one, or two side by side)", list(info),
                    page_default("interpolation", list(info)),
                    lambda p: f"{info[p]['run']} · {info[p]['method']} · {info[p]['dataset']}")
if not choice:
    st.info("Choose one or two runs.")
    st.stop()
if len({info[p]["dataset"] for p in choice}) > 1:
    st.error("These two runs were trained on different datasets: choose two runs on the same data to walk "
             "between the same two examples.")
    st.stop()

with friendly_errors("Could not walk through this run"):
    data = cached_data(choice[0])
    views = [cached_view(p, checkpoint_mtime(runs[p]), "pca" if (info[p]["latent"] or 2) > 2 else (0, 1), 100)
             for p in choice]
    mode = st.radio("Pick two test examples", PICK, horizontal=True)
    c1, c2, c3 = st.columns([2, 2, 1])
    seed("interpolation-n", from_link("n", link_int(4, 32), 16))
    n_points = int(c3.slider("Points per path", 4, 32, key="interpolation-n"))
    publish_link(choice, n=n_points)
    fig = viz.latent_figure(views)
    if mode == PICK[0]:
        pair = (by_class(views[0], "A", c1, 0), by_class(views[0], "B", c2, 1))
    elif mode == PICK[1]:
        if c1.button("Draw another pair"):
            st.session_state["draw"] = st.session_state.get("draw", 0) + 1
        pair = random_pair(views[0], st.session_state.get("draw", 0))
    else:
        pair = clicked_pair(fig)
        c1.info("Click a test point, then another: the last two clicked are A and B.")
    geos = []
    plot = st.empty()
    if pair:
        with friendly_errors("Could not find the paths"):
            if any(shared_geodesic(p, checkpoint_mtime(runs[p]), *pair, n_points).geodesic is None for p in choice):
                plot.plotly_chart(fig, key="interpolation-preview")  # the plane at once, while the geodesics run
            geos = [geodesic_of(p, checkpoint_mtime(runs[p]), info[p]["method"], *pair, n_points) for p in choice]
    viz.add_latent_paths(fig, [(v.project(g.straight.path), v.project(g.path)) for v, g in zip(views, geos)])
    plot.plotly_chart(fig, on_select="rerun", selection_mode="points", key=PLOT)
    if not geos:
        st.stop()
    st.caption(f"A = test #{pair[0]}, B = test #{pair[1]}. The dashed line is the straight line between their codes; "
               "the solid one is the geodesic, the shortest path between them once decoded into data space. "
               "For an isometric decoder the straight line is (nearly) the geodesic: a length ratio near 1 and an "
               "even speed.")
    for col, path, geo in zip(st.columns(len(choice)), choice, geos):
        col.markdown(f"**{info[path]['method']}** · {info[path]['run']}")
        if data.is_image:
            col.image(viz.image_strip(geo.straight.decoded, data.value_range), caption="straight line, decoded")
            col.image(viz.image_strip(geo.decoded, data.value_range, frames=len(geo.straight.path)),
                      caption="geodesic, decoded")
        else:
            col.plotly_chart(viz.vector_path_figure(geo.straight.decoded, "straight line, decoded"), key=f"s-{path}")
            col.plotly_chart(viz.vector_path_figure(geo.decoded, "geodesic, decoded", frames=len(geo.straight.path)),
                             key=f"g-{path}")
        col.plotly_chart(viz.speed_figure(geo.straight.speeds, geo.speeds), key=f"speed-{path}")
        col.caption(f"Length: straight line {geo.straight.length:.3g}, geodesic {geo.length:.3g}, ratio "
                    f"{geo.length_ratio:.3f} (1 = the straight line is the shortest path). Speed max/min: straight "
                    f"line {geo.straight.speed_ratio:.2f}, geodesic {geo.speed_ratio:.2f} (1 = even speed). "
                    + certification(geo))

    st.subheader("Axis modulation")
    big = max(info[p]["latent"] or 2 for p in choice)
    c1, c2, c3 = st.columns(3)
    k = int(c1.slider("Steps of one standard deviation on each side", 1, 4, 2))
    kind, top = "axes", None
    if big > 2 and c2.radio("Directions", ["latent axes", "top principal directions"]) != "latent axes":
        kind, top = "pca", int(c3.number_input("How many", 1, big, min(big, 4)))
    st.caption(f"Test #{pair[0]} (A), encoded, then moved along each direction by -{k} to +{k} times the standard "
               "deviation of the training codes along it, and decoded (paper, Appendix E.1). The middle column is "
               "the reconstruction. An isometric decoder changes the output evenly along every direction.")
    for col, path in zip(st.columns(len(choice)), choice):
        grid = modulation(path, checkpoint_mtime(runs[path]), pair[0], k, kind, top)
        col.markdown(f"**{info[path]['method']}** · rows: {', '.join(grid.labels)}")
        if data.is_image:
            col.image(viz.image_grid(grid.decoded, data.value_range), caption="columns: "
                      + ", ".join(f"{m:+g}σ" for m in grid.multiples.tolist()))
        else:
            col.plotly_chart(viz.modulation_figure(grid.decoded, grid.labels, grid.multiples), key=f"mod-{path}")
