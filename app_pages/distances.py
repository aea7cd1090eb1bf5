"""Distances: do latent distances stand for distances on the data manifold? The distortion suite of one or two runs."""

from __future__ import annotations

import streamlit as st

from app_pages.common import friendly_errors, from_link, link_choice, publish_link, run_picker, seed
from irvae_core.demo import demo_mode
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import run_row
from irvae_core.views.distances import NoSuite, compute_suite, distance_view, geodesic_table, neighbourhood_table
from irvae_core.viz.distances import agreement_figure, distortion_figure

st.title("Distances")
st.caption(
    "An isometric autoencoder promises that the straight-line distance between two codes stands for the length of "
    "the shortest path between the two data points along the learned data (the geodesic of the decoder). Here each "
    "dot is a pair of test points: if the promise holds, the dots lie on one line through the origin (correlation "
    "1, no spread in their ratio). Below, each test point is coloured by how much its neighbourhood is torn: 0 "
    "when its nearest codes are also its nearest data points.")
runs = {str(r.path): r for r in all_runs(default_runs_dir())}
info = {p: row for p, row in ((p, run_row(r)) for p, r in runs.items()) if row["state"] != "unreadable"}
if not info:
    st.info("No runs yet: start the quick start on Home, or train a run on the Train page.")
    st.stop()
choice = run_picker("distances-runs", "Runs (one, or two side by side)", list(info),
                    page_default("distances", list(info)),
                    lambda p: f"{info[p]['run']} · {info[p]['method']} · {info[p]['dataset']}")
seed("distances-against", from_link("against", link_choice(["inputs", "decodings"]), "inputs"))
publish_link(choice, against=st.session_state["distances-against"])
if not choice:
    st.info("Choose one or two runs.")
    st.stop()

views = []
for path in choice:
    try:
        views.append(distance_view(runs[path]))
    except NoSuite as e:
        st.warning(str(e))
        writable = not runs[path].is_example and not demo_mode()
        if writable and st.button(f"Compute it now for {info[path]['run']}", key=f"suite-{path}"):
            with st.spinner("Computing geodesics between 64 test pairs and the neighbourhood scores..."), \
                    friendly_errors("Could not compute the distance suite"):
                compute_suite(runs[path])
                st.rerun()
    except ValueError as e:
        st.warning(str(e))
if not views:
    st.stop()

st.subheader("Latent distance against geodesic length")
for v in views:
    if not v.has_pairs:
        st.info(f"{v.label}: no geodesic pairs were measured (a costly decoder gets none by default; "
                "`./lab evaluate RUN --pairs 16` measures some).")
if any(v.has_pairs for v in views):
    st.plotly_chart(agreement_figure([v for v in views if v.has_pairs]), key="agreement")
st.dataframe(geodesic_table(views), hide_index=True, key="geodesic-table")
st.caption("Spearman: do the pairs keep their order? Pearson: do they lie on a line? CV of ratio: the spread of "
           "geodesic length / latent distance (0 for a scaled isometry). Each length is the decoded curve's own, "
           "measured at a fine resampling and certified when it agrees with the optimised one within 1 %.")

st.subheader("Where neighbourhoods tear")
against = st.radio("Neighbours in", ["inputs", "decodings"], horizontal=True, key="distances-against",
                   format_func=lambda a: {"inputs": "the inputs (pixel space)",
                                          "decodings": "the decodings f(z) (the learned manifold)"}[a])
publish_link(choice, against=against)
st.plotly_chart(distortion_figure(views, against), key="distortion")
st.caption("A point's rank error: how far down its true neighbour ranking its 10 nearest codes are (its share of "
           "1 - trustworthiness; 0 is best). Pixel-space neighbours are not always manifold neighbours, so both "
           "readings are shown.")
st.dataframe(neighbourhood_table(views), hide_index=True, key="neighbourhood-table")
measured = {v.suite.get("measured_on") for v in views}
for line in measured:
    st.caption(f"Measured on {line}.")
