"""Latent geometry: encoded test data with equidistance ellipses of the pullback metric (one or two runs); a click
anywhere decodes that point and shows the metric there, a box or lasso shows the brushed examples."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.common import (
    cached_brush,
    cached_data,
    cached_model,
    cached_view,
    friendly_errors,
    from_link,
    link_choice,
    link_int,
    publish_link,
    run_picker,
    seed,
)
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import checkpoint_mtime, is_finished, run_row
from irvae_core.train.snapshots import read_snapshots
from irvae_core.views.latent import input_and_reconstruction, point_geometry, to_image
from irvae_core.viz.latent import (
    brushed_examples,
    color_range,
    latent_figure,
    mark_point,
    selected_example,
    selected_plane_point,
    snapshot_figure,
)
from irvae_core.viz.runs import vector_figure
from irvae_core.viz.summary import run_summary_html


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


def show_decoded(path: str, view, geo) -> None:
    """What the decoder makes of a clicked plane point, and its metric there."""
    data = cached_data(path)
    st.markdown(f"**Decoded at ({geo.xy[0]:.3g}, {geo.xy[1]:.3g})** · {info[path]['run']}")
    left, right = st.columns([1, 3])
    if data.is_image:
        left.image(to_image(geo.decoded, data.value_range), caption="decoded", width=160)
    else:
        right.plotly_chart(vector_figure(geo.decoded.numpy(), geo.decoded.numpy()), key="decoded")
    right.metric("Condition number of G", f"{geo.cond:.4g}")
    right.markdown(f"Eigenvalues of the pullback metric G = JᵀJ there: {geo.eigenvalue_text}")
    if view.restricted:
        right.caption(f"Latent size {view.latent_dim}: the clicked point is on the page's plane ({view.plane_label}) "
                      "and the rest of its code is the mean of the test codes. The ellipse drawn is the metric on "
                      f"the plane (condition number {geo.plane_cond:.4g}); the numbers above are of the full G.")
    else:
        right.caption("The black ellipse is the equidistance ellipse there: the latent steps that change the "
                      "decoded output by the same amount, drawn at the panel's scale.")


def show_brush(path: str, mtime: float | None, plane, test_index: list[int]) -> None:
    """The brushed test examples: how many, their classes, their condition numbers beside the whole set's."""
    data = cached_data(path)
    b = cached_brush(path, mtime, plane, n_ellipses, tuple(int(t) for t in test_index))
    st.markdown(f"**{b.count} test examples selected** · {info[path]['run']} · "
                + ", ".join(f"{name}: {n}" for name, n in sorted(b.classes.items(), key=lambda kv: -kv[1])))
    c1, c2 = st.columns(2)
    c1.metric("cond(G) of the selection", f"{b.cond_mean:.4g} ± {b.cond_std:.2g}")
    c2.metric("cond(G) of all shown points", f"{b.all_cond_mean:.4g} ± {b.all_cond_std:.2g}")
    st.caption("Mean ± standard deviation of the full metric's condition number at each point"
               + (" (on a fixed sample of 2,000 points where a set is larger)." if b.sampled else "."))
    show = b.test_index[:48]
    if data.is_image:
        cols = st.columns(12)
        for i, t in enumerate(show):
            cols[i % 12].image(to_image(data.test[int(t)][0], data.value_range), caption=f"#{int(t)}",
                               width="stretch")
    else:
        st.caption("Non-image data: the selected test indices are " + ", ".join(str(int(t)) for t in show))
    if len(b.test_index) > len(show):
        st.caption(f"The first {len(show)} of {len(b.test_index)} shown.")


st.title("Latent geometry")
runs = {str(r.path): r for r in all_runs(default_runs_dir()) if is_finished(r)}
info = {p: row for p, row in ((p, run_row(r)) for p, r in runs.items()) if row["state"] != "unreadable"}
if not info:
    st.info("No finished runs yet: start the quick start on Home, or train a run on the Train page.")
    st.page_link("app_pages/train.py", label="Go to Train")
    st.stop()

choice = run_picker("latent-runs", "Runs (one, or two side by side)", list(info), page_default("latent", list(info)),
                    lambda p: f"{info[p]['run']} · {info[p]['method']} · {info[p]['dataset']}")
c1, c2 = st.columns(2)
seed("latent-ellipses", from_link("ellipses", link_int(0, 400), 200))
n_ellipses = c1.slider("Ellipses per run", 0, 400, step=20, key="latent-ellipses")
big = max((info[p]["latent"] or 2 for p in choice), default=2)
plane: str | tuple[int, int] = (0, 1)
link: dict[str, object] = {"ellipses": n_ellipses}
if big > 2:
    kinds = {"pca": "PCA plane", "coords": "two coordinates"}
    seed("latent-plane", kinds[from_link("plane", link_choice(list(kinds)), "pca")])
    if c2.radio("Plane for latent size > 2", list(kinds.values()), horizontal=True, key="latent-plane") == "PCA plane":
        plane = "pca"
    else:
        a, b = c2.columns(2)
        seed("latent-z1", from_link("z1", link_int(1, big), 1))
        seed("latent-z2", from_link("z2", link_int(1, big), 2))
        plane = (int(a.number_input("first coordinate", 1, big, key="latent-z1")) - 1,
                 int(b.number_input("second coordinate", 1, big, key="latent-z2")) - 1)
    link.update({"plane": "pca"} if plane == "pca" else {"plane": "coords", "z1": str(plane[0] + 1),
                                                         "z2": str(plane[1] + 1)})
    st.info("Latent size above 2: the test points are projected to this plane and each ellipse is the metric "
            "restricted to it, BᵀGB (B: the plane's orthonormal basis). MCN and VoR are of the full metric G.")
publish_link(choice, **link)  # a copied link opens this view
if not choice:
    st.info("Choose one or two runs.")
    st.stop()

with friendly_errors("Could not draw the latent space"):
    planes = [plane if (info[p]["latent"] or 2) > 2 else (0, 1) for p in choice]
    views = [cached_view(p, checkpoint_mtime(runs[p]), pl, n_ellipses) for p, pl in zip(choice, planes)]
    signature = [choice, [str(pl) for pl in planes]]  # what a stored click or brush refers to
    crange = color_range(*(v.cond for v in views))
    fig = latent_figure(views, crange, grid=True)
    click = st.session_state.get("latent-click")
    if click and click["signature"] != signature:
        click = None
    geo = None
    if click and click["kind"] == "plane":
        path = choice[click["panel"]]
        geo = point_geometry(cached_model(path, checkpoint_mtime(runs[path])).decode, views[click["panel"]],
                             click["xy"])
        mark_point(fig, views[click["panel"]], click["panel"], geo.xy, geo.plane_metric, geo.plane_cond, crange)
    plot_col, metric_col = st.columns([4, 1])
    event = plot_col.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"),
                                  key="latent-plot")
    for view, path in zip(views, choice):
        metric_col.download_button(
            "Summary (HTML)", key=f"summary-{Path(path).name}", file_name=f"{Path(path).name}-summary.html",
            mime="text/html", on_click="ignore", help="The run's config, evaluation, training curves and this plane "
            "in one file that opens offline. Tables: the download icon on each table; figures: the camera icon.",
            data=lambda path=path, view=view: run_summary_html(runs[path], [("Latent plane", latent_figure([view]))]))
        ev = {k: info[path][k] for k in ("mcn", "vor", "mse") if info[path][k] is not None}
        metric_col.markdown(f"**{info[path]['method']}** ({view.plane_label})")
        metric_col.metric("MCN", f"{ev['mcn']:.3g}" if "mcn" in ev else "not evaluated")
        metric_col.metric("VoR", f"{ev['vor']:.3g}" if "vor" in ev else "not evaluated")
        metric_col.metric("MSE", f"{ev['mse']:.3g}" if "mse" in ev else "not evaluated")
    st.caption("Ellipse colour: condition number of the metric (blue: round, red: stretched). Click a test point "
               "to see its input and reconstruction, click anywhere else to decode that latent point and read "
               "the metric there; drag a box or lasso (chart toolbar) to select a group of test points.")

    selection = event["selection"]  # (a plain dict where a link or a test set the state)
    points = selection.get("points") or []
    if selection.get("box") or selection.get("lasso"):
        st.session_state["latent-brush"] = {"signature": signature, "panels": {
            int(k): v.tolist() for k, v in brushed_examples(fig, points).items()}}
    elif points:
        point, new = points[0], None
        if (clicked := selected_plane_point(fig, point)) is not None:
            new = {"signature": signature, "kind": "plane", "panel": clicked[0], "xy": clicked[1].tolist()}
        elif (picked := selected_example(fig, point)) is not None:
            new = {"signature": signature, "kind": "example", "panel": picked[0], "index": picked[1]}
        if new is not None and new != click:
            st.session_state["latent-click"] = new
            st.rerun()  # the plane drawn again: the clicked point's ellipse added, or removed

    if geo is not None:
        show_decoded(choice[click["panel"]], views[click["panel"]], geo)
    elif click:
        path = choice[click["panel"]]
        show_example(path, checkpoint_mtime(runs[path]), click["index"])
    brushed = st.session_state.get("latent-brush")
    if brushed and brushed["signature"] == signature:
        for panel, indices in brushed["panels"].items():
            path = choice[int(panel)]
            show_brush(path, checkpoint_mtime(runs[path]), planes[int(panel)], indices)
        if not brushed["panels"]:
            st.caption("The selection holds no test points.")

    with_snaps = [(p, snaps) for p in choice if (snaps := read_snapshots(runs[p]))]
    if with_snaps:
        st.subheader("While it trained")
        st.caption("The worker's snapshots of the latent plane during training: the same validation points at each "
                   "snapshot, an ellipse at every one. Step through the epochs to watch the geometry settle.")
        for path, snaps in with_snaps:
            epochs = [s["epoch"] for s in snaps]
            picked = epochs[-1] if len(epochs) == 1 else st.select_slider(
                f"Epoch · {info[path]['run']}", epochs, value=epochs[-1], key=f"latent-epoch-{Path(path).name}")
            snap = snaps[epochs.index(picked)]
            st.plotly_chart(snapshot_figure(snap, cached_data(path), among=snaps), key=f"snapshot-{Path(path).name}")
