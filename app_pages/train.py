"""Train: submit a background run, watch jobs live, list runs, resume interrupted runs, flatten."""

from __future__ import annotations

import streamlit as st

from app_pages.common import friendly_errors, job_panel, manager
from irvae_core.config import (
    DEFAULT_EPOCHS,
    MODEL_KINDS,
    PRESETS,
    REG_KINDS,
    RunConfig,
    apply_overrides,
    preset_alpha,
    preset_config,
)
from irvae_core.data import list_datasets
from irvae_core.demo import demo_mode
from irvae_core.experiments.examples import all_runs
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import is_finished, run_row
from irvae_core.train.estimate import SLOW_EPOCH_S, EpochEstimate, estimate_epoch_seconds, format_duration
from irvae_core.train.flattening import FlattenConfig
from irvae_core.train.resolve import resolve_config

REG_LABELS = {"none": "none (plain model)", "ir": "ir: relaxed distortion (IRVAE)",
              "fmvae": "fmvae: flatness (FMVAE)", "iso": "iso: strict isometry",
              "geomae": "geomae: even volume, Var log det G (Geometric AE)"}


def parse_widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.replace(" ", "").split(",") if w]
    except ValueError:
        raise ValueError(f"hidden layer widths must be whole numbers separated by commas; got {text!r}") from None


def train_form(base: RunConfig, key: str) -> tuple[dict, bool, float] | None:
    """(config overrides, start pressed, warning limit in s), or None until a button is pressed."""
    names = [d.name for d in list_datasets()]
    with st.form(f"train-{key}"):
        c1, c2, c3 = st.columns(3)
        dataset = c1.selectbox("Dataset", names, index=names.index(base.data.name) if base.data.name in names else 0)
        root = c1.text_input("Data folder (real datasets only)", base.data.root or "")
        name = c1.text_input("Run name (optional; the folder adds the date)", "")
        model = c2.selectbox("Model", MODEL_KINDS, index=MODEL_KINDS.index(base.model.kind))
        reg = c2.selectbox("Regularizer", REG_KINDS, format_func=REG_LABELS.get)
        alpha = c2.number_input("α, in the paper's units (empty: the preset's or the default)", min_value=0.0,
                                value=None, format="%g")
        latent = c3.number_input("Latent size", 1, 512, base.model.latent_dim)
        epochs = c3.number_input("Epochs", 1, 10_000, base.train.epochs or DEFAULT_EPOCHS)
        seed = c3.number_input("Seed", 0, 2**31 - 1, base.train.seed)
        with st.expander("Network and optimizer"):
            hidden = st.text_input("Hidden widths (FC)", ",".join(map(str, base.model.hidden)))
            width = st.number_input("Conv width (empty: the paper's)", 1, 1024, base.model.conv_width,
                                    help="Image data sets: the conv networks' first-layer channels, doubled per "
                                         "layer; the paper's are 32 (28x28, 32x32 images) and 128 (64x64 faces).")
            batch = st.number_input("Batch size", 2, 10_000, base.train.batch_size)
            lr = st.number_input("Learning rate", 1e-6, 1.0, base.train.lr, format="%g")
            tensorboard = st.checkbox("Write TensorBoard logs", base.train.tensorboard)
            limit = st.number_input("Warn above (minutes an epoch)", 0.0, 10_000.0, SLOW_EPOCH_S / 60, format="%g")
        start = st.form_submit_button("Start training", type="primary")
        if not (st.form_submit_button("Estimate time per epoch") or start):
            return None
    return {"data.name": dataset, "data.root": root or None, "model.kind": model, "reg.kind": reg, "reg.alpha": alpha,
            "model.latent_dim": int(latent), "train.epochs": int(epochs), "train.seed": int(seed),
            "model.hidden": parse_widths(hidden), "model.conv_width": width, "train.batch_size": int(batch),
            "train.lr": float(lr), "train.tensorboard": tensorboard, "name": name.strip() or None}, start, 60 * limit


def epoch_estimate(cfg: RunConfig, start: bool) -> EpochEstimate | None:
    """Timed on request, and before starting a run with conv networks (the ones that can take hours an epoch)."""
    if start and resolve_config(cfg).model.arch != "conv":
        return None
    estimates = st.session_state.setdefault("epoch-estimates", {})
    if cfg.to_json() not in estimates:
        with st.spinner("Timing a few training steps of this network on this machine..."):
            estimates[cfg.to_json()] = estimate_epoch_seconds(cfg)
    return estimates[cfg.to_json()]


st.title("Train")
if demo_mode():
    st.caption("Training, resuming and flattening are switched off in this demo; below: the runs it shows.")
preset = None if demo_mode() else st.selectbox("Start from a preset (CPU schedule)", ["none", *PRESETS],
                      format_func=lambda p: "no preset" if p == "none" else f"{p}: {PRESETS[p].description}")
with friendly_errors("Could not start the run"):
    base = RunConfig() if preset in ("none", None) else preset_config(preset)
    submitted = None if preset is None else train_form(base, preset)
    if submitted is not None:
        overrides, start, limit = submitted
        if overrides["data.name"] != base.data.name:  # another dataset: its own network family and output
            overrides.update({"model.arch": None, "model.out_act": None})
        if overrides["reg.alpha"] is None and preset != "none":
            overrides["reg.alpha"] = preset_alpha(preset, overrides["reg.kind"])
        name = overrides.pop("name")
        cfg = apply_overrides(base, overrides)
        cfg.name = name
        manager().check_config(cfg)  # a run name that is a path, a data folder outside IRVAE_DATA_ROOTS
        estimate = epoch_estimate(cfg, start)
        slow = estimate is not None and estimate.seconds > limit
        if estimate is not None:
            (st.warning if slow else st.info)(estimate.describe() + (
                f" That is more than {format_duration(limit)}: a smaller conv width, a GPU or a smaller data set "
                "would be faster." if slow else ""))
        if start and slow and st.session_state.get("confirmed") != cfg.to_json():
            st.session_state["confirmed"] = cfg.to_json()
            st.warning("Not started yet: press Start training again to start it anyway.")
        elif start:
            job_id = manager().submit_train(cfg)
            st.success(f"Started {manager().get(job_id).label} in the background.")

st.subheader("Jobs")
job_panel()

runs = all_runs(default_runs_dir())
rows = [run_row(r) for r in runs]
st.subheader("Runs")
if not runs:
    st.info(f"No runs in {default_runs_dir()} yet: start one above.")
else:
    st.dataframe(rows, hide_index=True, column_order=["run", "state", "epoch", "method", "dataset", "alpha",
                                                      "latent", "mse", "mcn", "vor", "error"])
    if any(row.get("example") for row in rows):
        st.caption("Read-only, shipped with IRVAE Lab: " + ", ".join(r["run"] for r in rows if r.get("example")))
    for row in rows:
        if row["state"] in ("failed", "unreadable"):
            st.error(f"{row['run']} {row['state']}: {row['error'] or 'no reason recorded'}")

interrupted = [] if demo_mode() else manager().interrupted_runs()
if interrupted:
    st.subheader("Interrupted runs")
    for run in interrupted:
        left, right = st.columns([5, 1])
        left.write(f"{run.name}: stopped at epoch {run.status().get('epoch', 0)} of {run.status().get('epochs', '?')}")
        if right.button("Resume", key=f"resume-{run.name}"):
            with friendly_errors(f"Could not resume {run.name}"):
                manager().resume(run.path)
                st.rerun()

bases = {str(r.path): r.name for r, row in zip(runs, rows) if row.get("type") == "train" and is_finished(r)}
if bases and not demo_mode():
    st.subheader("Flatten a finished run")
    st.caption("Trains a flattening module (RealNVP, paper Section 4.2) on the frozen autoencoder: "
               "reconstructions stay the same, the latent coordinates become more isometric.")
    with st.form("flatten"):
        base_run = st.selectbox("Run", list(bases), format_func=bases.get)
        epochs_col, depth_col, width_col = st.columns(3)
        f_epochs = epochs_col.number_input("Flattening epochs", 1, 1000, FlattenConfig.epochs)
        f_depth = depth_col.number_input("Coupling layers", 1, 32, FlattenConfig.depth,
                                         help="RealNVP coupling layers (the paper's: 8)")
        f_width = width_col.number_input("Coupling width", 1, 4096, FlattenConfig.width,
                                         help="hidden width of each coupling network (the paper's: 512); a step of "
                                              "the paper's module does 9.8x a VAE step's arithmetic "
                                              "(bench/flattening.py), a narrower one trains faster")
        if st.form_submit_button("Flatten"):
            with friendly_errors("Could not start flattening"):
                manager().submit_flatten(base_run, FlattenConfig(epochs=int(f_epochs), depth=int(f_depth),
                                                                 width=int(f_width)))
                st.rerun()
