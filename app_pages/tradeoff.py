"""Tradeoff: MSE against VoR and MCN for every evaluated run, one curve per method; alpha sweeps."""

from __future__ import annotations

import os

import streamlit as st

from app_pages.common import friendly_errors, from_link, job_panel, link_choice, manager, publish_link, seed
from irvae_core.config import MODEL_KINDS, RunConfig, apply_overrides
from irvae_core.data import list_datasets
from irvae_core.demo import demo_mode
from irvae_core.experiments.engines import make_engine
from irvae_core.experiments.examples import all_runs, page_dataset
from irvae_core.experiments.reproduce import list_reproductions
from irvae_core.experiments.reproduce.report import claim_lines
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import tradeoff_rows
from irvae_core.viz.runs import tradeoff_figure


def parse_alphas(text: str) -> list[float]:
    try:
        alphas = [float(a) for a in text.replace(" ", "").split(",") if a]
    except ValueError:
        raise ValueError(f"alphas must be numbers separated by commas; got {text!r}") from None
    if not alphas:
        raise ValueError("give at least one alpha")
    return alphas


st.title("Tradeoff")
st.caption("Each point is a finished, evaluated run; each curve one method (VAE, FMVAE, IRVAE, IRVAE+FM, ...) "
           "sorted by the regularization weight α. Lower and further left is better (paper Figure 5).")
seed("tradeoff-latent", from_link("geometry", link_choice(["augmented", "encoded"]), "augmented"))
latent = st.radio("Geometry measured on", ["augmented", "encoded"], horizontal=True, key="tradeoff-latent",
                  format_func={"augmented": "P_Z: mixup of the encoded test data (the paper's, Section 5.1)",
                               "encoded": "encoded test data (as Table 3)"}.get)
rows = tradeoff_rows(all_runs(default_runs_dir()), latent)
if not rows:
    st.info("No evaluated runs yet: finished runs are evaluated automatically; start a sweep below.")
else:
    datasets = sorted({str(r["dataset"]) for r in rows})
    seed("tradeoff-dataset", from_link("dataset", link_choice(datasets), page_dataset(rows)))
    dataset = st.selectbox("Dataset", datasets, key="tradeoff-dataset")
    publish_link([], geometry=latent, dataset=dataset)
    shown = [r for r in rows if str(r["dataset"]) == dataset]
    st.plotly_chart(tradeoff_figure(shown), key="tradeoff")
    st.dataframe(shown, hide_index=True)
    st.caption("geo_spearman, geo_ratio_cv: do latent distances follow the decoder's geodesic lengths (1 and 0 for "
               "a scaled isometry); trustworthiness, knn_recall: are latent neighbours pixel-space neighbours. "
               "Empty for a run evaluated without the suite; the Distances page shows them in full.")
    if any(r["run"].endswith("(example)") for r in shown):
        st.caption("Read-only, shipped with IRVAE Lab: " + ", ".join(r["run"] for r in shown
                                                                    if r["run"].endswith("(example)")))

st.subheader("Paper reproductions")
reproductions = list_reproductions()
if not reproductions:
    st.caption("None yet: `python -m irvae_core reproduce mnist-tradeoff --quick` trains the paper's experiment on "
               "this machine and writes its table and figures to reproductions/, where this page finds them.")
else:
    labels = [f"{r.get('name', r['experiment'])} ({r['mode']} mode{', shipped' * r['shipped']})"
              for r in reproductions]
    shown = reproductions[labels.index(st.selectbox("Reproduction", labels))]
    if shown["shipped"]:
        st.caption(f"Shipped with IRVAE Lab, read-only: computed on a 2-core CPU. `{shown['command']}` recomputes "
                   "it on this machine (your own reproductions are listed first).")
    where = {"augmented": "VoR and MCN on P_Z", "encoded": "VoR and MCN on the encoded test data"}.get(
        shown.get("latent", "encoded"), "")
    st.caption(f"Data: {shown['data']}. Command: `{shown['command']}`. {where}. Each point is a mean ± std over "
               f"{len(shown.get('seeds') or [0])} seed(s); each of the paper's claims holds, does not hold, or is "
               "undecided beyond the seeds' spread. Collapsed runs (test MSE ≥ 90% of the mean example's) are "
               "grey and not counted.")
    for path in shown["figure_paths"]:
        st.image(path)
    st.markdown("\n".join(f"- {line}" for line in claim_lines(shown)))
    st.dataframe(shown.get("points") or shown["rows"], hide_index=True)

if demo_mode():
    st.caption("α sweeps are switched off in this demo.")
else:
    st.subheader("α sweep")
    ray_address = os.environ.get("RAY_ADDRESS")
    st.caption(f"One run per α on the Ray cluster at {ray_address} (RAY_ADDRESS), each evaluated when it finishes; "
               "finished runs with the same settings are reused." if ray_address else
               "One background run per α, each evaluated when it finishes.")
    with st.form("sweep"):
        c1, c2, c3 = st.columns(3)
        names = [d.name for d in list_datasets()]
        dataset_name = c1.selectbox("Dataset", names, index=names.index("mnist5k") if "mnist5k" in names else 0,
                                    key="sweep-dataset")
        root = c1.text_input("Data folder (real datasets only)", "")
        model = c2.selectbox("Model", MODEL_KINDS, index=MODEL_KINDS.index("vae"))
        reg = c2.selectbox("Regularizer", ["ir", "fmvae", "iso", "geomae"])
        alphas = c3.text_input("α values", "100, 1000, 10000", help="in the paper's units (ir: the official code's)")
        epochs = c3.number_input("Epochs per run", 1, 10_000, 20)
        latent_dim = c1.number_input("Latent size", 1, 512, 2)
        submitted = st.form_submit_button("Start sweep", type="primary")
    if submitted:
        with friendly_errors("Could not start the sweep"):
            cfg = apply_overrides(RunConfig(), {"data.name": dataset_name, "data.root": root or None,
                                                "model.kind": model, "reg.kind": reg, "train.epochs": int(epochs),
                                                "model.latent_dim": int(latent_dim)})
            manager().submit_sweep(cfg, parse_alphas(alphas), engine=make_engine("ray") if ray_address else None)
job_panel(lambda job: job.kind == "sweep")
