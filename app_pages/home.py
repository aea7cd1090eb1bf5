"""Home: what the app does, a quick start (VAE and IRVAE on embedded MNIST, side by side), links."""

from __future__ import annotations

import streamlit as st

from app_pages.common import cached_view, friendly_errors, job_panel, manager
from irvae_core.config import QUICK_START_EPOCHS, quick_start_config
from irvae_core.demo import demo_mode
from irvae_core.experiments.examples import page_examples
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run, default_runs_dir, list_runs
from irvae_core.store.summaries import checkpoint_mtime, is_finished
from irvae_core.viz.latent import latent_figure

QUICK_RUNS = {"quickstart-vae": ("none", "VAE"), "quickstart-irvae": ("ir", "IRVAE")}


def start_quick_start() -> None:
    """Two background jobs: a VAE and an IRVAE, 2-D latent, on the 5,000 embedded MNIST digits."""
    for name, (_, method) in QUICK_RUNS.items():
        manager().submit_train(quick_start_config(name), label=f"quick start: {method}")


def latest_quick_runs() -> list[Run]:
    """The newest finished run of each quick-start model."""
    found: dict[str, Run] = {}
    for run in list_runs(default_runs_dir()):
        try:
            name = run.raw_config().get("name")
        except RunError:
            continue
        if name in QUICK_RUNS and name not in found and is_finished(run):
            found[name] = run
    return [found[n] for n in QUICK_RUNS if n in found]


st.title("IRVAE Lab")
st.markdown(
    "IRVAE Lab trains autoencoders whose latent coordinates preserve the geometry of the data, "
    "with the isometric regularization of Lee et al. (ICLR 2022). "
    "It draws the encoded data with equidistance ellipses of the decoder's pullback metric "
    "$G = J^\\top J$: small, round, equal ellipses mean a scaled isometry, and their colour is the "
    "condition number of $G$. "
    "It measures this with the mean condition number (MCN, ideal 1) and the variance of the Riemannian "
    "metric (VoR, ideal 0), traded off against the reconstruction error (MSE)."
)

st.subheader("Quick start")
st.caption(f"Trains a VAE and an IRVAE (2-D latent, {QUICK_START_EPOCHS} epochs each) on 5,000 embedded MNIST "
           "digits in the background, one after the other: about two minutes on a laptop CPU.")
if demo_mode():
    st.caption("(Training is switched off in this demo: below, the shipped example runs trained this way.)")
elif st.button("Train a VAE and an IRVAE on MNIST", type="primary"):
    with friendly_errors("Could not start the quick start"):
        start_quick_start()
job_panel(lambda job: job.label.startswith("quick start"), curves=False, limit=2)

runs = latest_quick_runs()
if len(runs) < 2:  # until both quick-start runs have finished: the shipped examples, trained the same way
    runs = page_examples("home") or runs
    if runs:
        st.caption("Shown: the shipped example runs (marked \"example\"), trained with the quick start's settings; "
                   "your own quick-start runs replace them here once both have finished.")
if runs:
    with friendly_errors("Could not draw the quick-start runs"):
        views = [cached_view(str(r.path), checkpoint_mtime(r), (0, 1), 200) for r in runs]
        st.plotly_chart(latent_figure(views), key="quick-latent")
        for col, view, run in zip(st.columns(len(views)), views, runs):
            ev = run.evaluation() or {}
            col.caption(f"{view.title}: MCN {ev.get('mcn', float('nan')):.2f} · VoR {ev.get('vor', float('nan')):.3f}"
                        f" · MSE {ev.get('mse', float('nan')):.4f}")

st.subheader("Pages")
st.page_link("app_pages/train.py", label="Train: launch runs, watch them live, resume, flatten")
st.page_link("app_pages/latent.py", label="Latent geometry: encoded data with equidistance ellipses")
st.page_link("app_pages/tradeoff.py", label="Tradeoff: MSE against VoR and MCN, alpha sweeps")
st.page_link("app_pages/interpolation.py", label="Interpolation: straight lines, geodesics and axis modulation")
st.page_link("app_pages/distances.py", label="Distances: do latent distances follow the decoder's geodesics?")
st.page_link("app_pages/retrieval.py", label="Face retrieval: find faces by example, two runs side by side, P@K")
st.page_link("app_pages/mocap.py", label="Motion capture: poses decoded from the latent space as 3-D skeletons")
