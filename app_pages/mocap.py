"""Motion capture: poses decoded from the latent space as 3-D skeletons, and walks between two poses (paper Fig. 7)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import (
    cached_data,
    cached_model,
    cached_view,
    friendly_errors,
    from_link,
    job_panel,
    link_int,
    manager,
    publish_link,
    run_picker,
    seed,
)
from irvae_core import viz
from irvae_core.demo import demo_mode
from irvae_core.experiments.examples import all_runs, page_default
from irvae_core.store.runs import default_runs_dir
from irvae_core.store.summaries import checkpoint_mtime, run_row
from irvae_core.views.mocap import (
    OFFER_EPOCHS,
    check_cmu_folder,
    default_pair,
    default_runs,
    frame_of_class,
    frame_poses,
    mocap_runs,
    offered_runs,
    pose_walks,
    same_data,
)

PLOT = "mocap-plot"
PICK = ["by class", "by clicking two points on the plot"]


def offer(expanded: bool) -> None:
    """Train a VAE and an IRVAE in the background: offline on the shipped CMU sample, or on the user's CMU files."""
    if demo_mode():
        return
    with st.expander("Train a VAE and an IRVAE on motion capture", expanded=expanded):
        st.caption(f"The paper's CMU networks (fully connected, 2 × 512, 2-D latent), {OFFER_EPOCHS} epochs each, "
                   "one after the other in the background. On the CMU sample shipped with IRVAE Lab (six real "
                   "trials, 7,915 poses, offline) this takes a minute or a few on a laptop's CPU; on your CMU "
                   "files it grows with the number of poses (at most 14,000).")
        if st.button("Train on the CMU sample", type="primary"):
            with friendly_errors("Could not start training"):
                for cfg in offered_runs():
                    manager().submit_train(cfg, label=f"mocap: {cfg.name}")
        folder = st.text_input("Or a folder of CMU files (NN.asf skeletons beside NN_MM.amc motions)")
        if st.button("Train on this CMU folder"):
            with friendly_errors("Could not use this folder"):
                st.info(f"Training on {check_cmu_folder(folder)}.")
                for cfg in offered_runs("cmu", folder):
                    manager().submit_train(cfg, label=f"mocap: {cfg.name}")
    job_panel(lambda job: job.label.startswith("mocap:"), curves=False, limit=2)


def clicked(fig, view) -> list[int]:
    """The last two test poses clicked on the latent plot (kept across reruns, while they are on it)."""
    points = ((st.session_state.get(PLOT) or {}).get("selection") or {}).get("points", [])
    picked = [ex[1] for ex in (viz.selected_example(fig, p) for p in points) if ex is not None]
    clicks = st.session_state.setdefault("mocap-clicks", [])
    if picked and (not clicks or clicks[-1] != picked[-1]):
        clicks[:] = (clicks + picked)[-2:]
    clicks[:] = [c for c in clicks if c in set(view.index.tolist())]  # another run's data: start again
    return clicks


def by_class(view, side: str, col, default: int) -> int:
    """A test pose chosen as 'the k-th shown pose of class c'."""
    classes = [int(c) for c in sorted(set(view.labels.tolist()))]
    start = int(view.labels[list(view.index).index(default)])
    c = col.selectbox(f"{side}: class", classes, index=classes.index(start), key=f"mocap-class-{side}",
                      format_func=lambda c: view.label_names[c] if 0 <= c < len(view.label_names) else str(c))
    k = col.number_input(f"{side}: which one of that class", 0, None, 0, key=f"mocap-nth-{side}")
    return frame_of_class(view, c, int(k))


st.title("Motion capture")
shown, problems, others = mocap_runs(all_runs(default_runs_dir()))
runs = {str(r.path): r for r in shown}
for sentence in problems:
    st.warning(sentence)
if others:
    st.info(others)
offer(expanded=not runs)
if not runs:
    st.stop()

info = {p: run_row(r) for p, r in runs.items()}
choice = run_picker("mocap-runs", "Runs (one, or a VAE and an IRVAE side by side)", list(info),
                    [str(r.path) for r in default_runs([r for r in shown if not r.is_example])]
                    or page_default("mocap", list(info)),
                    lambda p: f"{info[p]['run']} · {info[p]['method']} · {info[p]['dataset']}")
if not choice:
    st.info("Choose one or two runs.")
    st.stop()
if not same_data([runs[p] for p in choice]):
    st.error("These two runs were trained on different data: choose two runs on the same data to compare the "
             "same poses.")
    st.stop()

with friendly_errors("Could not draw poses of this run"):
    data = cached_data(choice[0])
    models = [cached_model(p, checkpoint_mtime(runs[p])) for p in choice]
    methods = [info[p]["method"] for p in choice]
    big = [(info[p]["latent"] or 2) > 2 for p in choice]
    views = [cached_view(p, checkpoint_mtime(runs[p]), "pca" if b else (0, 1), 100) for p, b in zip(choice, big)]
    if any(big):
        st.info("Latent size above 2: the test poses are drawn in the PCA plane of their codes, and each ellipse is "
                "the metric restricted to that plane. Walks still run straight through the full latent space.")
    fig = viz.latent_figure(views)
    clicks = clicked(fig, views[0])
    plot_area = st.container()  # the plot goes above the pickers, drawn once the walk is known
    mode = st.radio("Pick the two poses A and B of the walk", PICK, horizontal=True)
    a, b = default_pair(views[0])
    if mode == PICK[0]:
        c1, c2, _ = st.columns([2, 2, 3])
        a, b = by_class(views[0], "A", c1, a), by_class(views[0], "B", c2, b)
    elif len(clicks) == 2:
        a, b = clicks
    else:
        st.info("Click a test pose on the plot, then another: the last two clicked are A and B.")
    pose = clicks[-1] if clicks else a
    seed("mocap-n", from_link("n", link_int(8, 48), 24))
    n = int(st.slider("Poses per walk", 8, 48, key="mocap-n"))
    publish_link(choice, n=n)
    walk = pose_walks(models, data, a, b, n) if a != b else None
    viz.add_latent_walk(fig, [v.project(w.path.path) for v, w in zip(views, walk.walks if walk else [])],
                        [v.xy[v.index == pose][0] if (v.index == pose).any() else None for v in views])
    plot_area.plotly_chart(fig, on_select="rerun", selection_mode="points", key=PLOT)
    plot_area.caption("Each point is a test pose, coloured by motion class; ellipse colour: condition number of the "
                      "metric (blue: round, red: stretched). Click a point to see its pose below.")

    poses = frame_poses(models, data, pose)
    st.subheader(f"Test pose #{pose}: {poses.label} ({poses.source})")
    titles = ["captured", *[f"{m}, decoded" for m in methods]]
    st.plotly_chart(viz.skeleton_figure(poses.standing(), poses.edges, titles, names=poses.skeleton.joint_names),
                    key="pose")
    st.caption("Left: the pose as captured (its 50 joint angles); then each model's reconstruction, decode(encode(x)). "
               "RMS joint distance to the captured pose: " + ", ".join(f"{m} {100 * e:.1f} cm" for m, e in
                                                                        zip(methods, poses.errors))
               + ". The root, clavicles and fingers are not among the 50 angles, so every pose faces the same way "
               "and stands on the floor by its lowest joint. Drag to turn the view.")

    if walk is None:
        st.error(f"Test pose #{a} is both A and B: pick two different poses for a walk.")
        st.stop()
    st.subheader(f"Walk from A (test #{a}) to B (test #{b})")
    st.plotly_chart(viz.skeleton_animation(walk.standing(), walk.edges, methods, names=walk.skeleton.joint_names),
                    key="walk")
    st.plotly_chart(viz.joint_speed_figure([w.speeds for w in walk.walks], methods), key="speed")
    st.caption(f"The straight line between the codes of A and B, decoded into {n} poses and played in order (Play, or "
               "drag the slider). Below: how far the joints move at each step (RMS over joints). An isometric "
               "decoder moves the body at an even pace, a flat line: max/min speed "
               + ", ".join(f"{m} {w.speed_ratio:.2f}" for m, w in zip(methods, walk.walks)) + " (1 = perfectly even).")
