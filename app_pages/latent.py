"""Latent geometry: encoded test data with equidistance ellipses of the pullback metric (one or two runs)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import cached_data, cached_model, cached_view, friendly_errors
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import checkpoint_mtime, is_finished, run_row
from irvae_core.views.latent import input_and_reconstruction, to_image
from irvae_core.viz.latent import latent_figure, selected_example
from irvae_core.viz.runs import vector_figure


def show_example(path: str, mtime: float | None, index: int) -> None:
    """A test example and its reconstruction: images side by side, other data as curves."""
    data = cached_data(path)
    x, x_hat = input_and_reconstruction(cached_model(path, mtime), data, index)
    if data.is_image:
        left, right, _ = st.columns([1, 1, 4])
        left.image(to_image(x, data.value_range), caption=f"input (test #{index})", width=160)
        right.image(to_image(x_hat, data.value_range), caption="reconstruction", width=160)
    else:
        st.plotly_chart(vector_figure(x.numpy(), x_hat.numpy()), key="example")


st.title("Latent geometry")
runs = {str(r.path): r for r in all_runs(default_runs_dir()) if is_finished(r)}
info = {p: row for p, row in ((p, run_row(r)) for p, r in runs.items()) if row["state"] != "unreadable"}
if not info:
    st.info("No finished runs yet: start the quick start on Home, or train a run on the Train page.")
    st.page_link("app_pages/train.py", label="Go to Train")
    st.stop()

choice = st.multiselect("Runs (one, or two side by side)", list(info), default=page_default("latent", list(info)),
                        max_selections=2,
                        format_func=lambda p: f"{info[p]['run']} · {info[p]['method']} · {info[p]['dataset']}")
c1, c2 = st.columns(2)
n_ellipses = c1.slider("Ellipses per run", 0, 400, 200, step=20)
big = max((info[p]["latent"] or 2 for p in choice), default=2)
plane: str | tuple[int, int] = (0, 1)
if big > 2:
    if c2.radio("Plane for latent size > 2", ["PCA plane", "two coordinates"], horizontal=True) == "PCA plane":
        plane = "pca"
    else:
        a, b = c2.columns(2)
        plane = (int(a.number_input("first coordinate", 1, big, 1)) - 1,
                 int(b.number_input("second coordinate", 1, big, 2)) - 1)
    st.info("Latent size above 2: the test points are projected to this plane and each ellipse is the metric "
            "restricted to it, BᵀGB (B: the plane's orthonormal basis). MCN and VoR are of the full metric G.")
if not choice:
    st.info("Choose one or two runs.")
    st.stop()

with friendly_errors("Could not draw the latent space"):
    views = [cached_view(p, checkpoint_mtime(runs[p]), plane if (info[p]["latent"] or 2) > 2 else (0, 1),
                         n_ellipses) for p in choice]
    plot_col, metric_col = st.columns([4, 1])
    fig = latent_figure(views)
    event = plot_col.plotly_chart(fig, on_select="rerun", selection_mode="points", key="latent-plot")
    for view, path in zip(views, choice):
        ev = {k: info[path][k] for k in ("mcn", "vor", "mse") if info[path][k] is not None}
        metric_col.markdown(f"**{info[path]['method']}** ({view.plane_label})")
        metric_col.metric("MCN", f"{ev['mcn']:.3g}" if "mcn" in ev else "not evaluated")
        metric_col.metric("VoR", f"{ev['vor']:.3g}" if "vor" in ev else "not evaluated")
        metric_col.metric("MSE", f"{ev['mse']:.3g}" if "mse" in ev else "not evaluated")
    st.caption("Ellipse colour: condition number of the metric (blue: round, red: stretched). "
               "Click a point to see its input and its reconstruction.")
    picked = [ex for ex in (selected_example(fig, p) for p in event.selection.points) if ex is not None]
    if picked:
        path = choice[picked[0][0]]
        show_example(path, checkpoint_mtime(runs[path]), picked[0][1])
