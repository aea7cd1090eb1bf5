"""What the Motion capture page shows, computed (paper Section 5.1.2, Fig. 7): decoded poses and walks between them.

A mocap run's decoder maps a latent code to the 50-d joint-angle feature; :mod:`irvae_core.mocap.poses`
turns that into a 3-D skeleton. Each test pose is drawn with its own subject's skeleton (the
``cmu`` loader records every test pose's trial in ``meta["test_frames"]``; the skeletons are in
``meta["skeletons"]`` by subject), and anything without a subject (a point between poses, a
synthetic pose) with the data set's default skeleton (``meta["skeleton"]``). A walk from pose
A to pose B is the straight latent segment between their codes, decoded
(:func:`irvae_core.interpolation.interpolate`), drawn with A's skeleton.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from irvae_core.config import RunConfig, apply_overrides, preset_config
from irvae_core.data import DATASETS, DataError, DatasetSplits, load_dataset
from irvae_core.data.roots import allowed_data_folder
from irvae_core.geometry.curves import DecodedPath, interpolate
from irvae_core.mocap.asf import Skeleton
from irvae_core.mocap.kinematics import skeleton_edges
from irvae_core.mocap.poses import joint_speeds, on_floor, pose_joints
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run
from irvae_core.store.summaries import is_finished, method_name
from irvae_core.views.interpolation import encode_test_examples
from irvae_core.views.latent import LatentView

MOCAP_DATASETS = ("cmu", "cmu-sample", "synthetic-mocap")
MOCAP_NAMES = "cmu, cmu-sample or synthetic-mocap"
# The runs the page offers to train: a VAE and an IRVAE (the paper's CMU networks, FC 512 x 2, m = 2) on the
# shipped real sample (cmu-sample, 7,915 poses, 5:1:1), on the user's CMU folder, or (tests) on OFFER_POSES
# synthetic poses, OFFER_EPOCHS epochs each (README: the time).
OFFER_POSES = 7000
OFFER_EPOCHS = 20
# The decoder's sigma is fixed: a learned sigma starts at 1, far above these poses' spread (variance ~0.005 a
# feature), and in 20 epochs the VAE stays collapsed onto the mean pose (test MSE = the data's variance).
OFFER_SIGMA = 0.05
# IRVAE weight in the paper's units (10 on F = 40 / m^2 at m = 2), chosen on the offered schedule (constant
# learning rate) as the weight that flattens the metric at a moderate cost in MSE (README, "Motion capture").
OFFER_ALPHA = 40.0


def mocap_problem(run: Run) -> str | None:
    """Why the Motion capture page cannot show a run, in one sentence; None when it can."""
    try:
        raw = run.raw_config()
    except RunError as e:
        return f"{run.name} cannot be read: {e}."
    data = raw.get("data", {})
    if data.get("name") not in MOCAP_DATASETS:
        kind = "image data" if len(raw.get("x_shape") or ()) == 3 else "data that is not motion capture"
        return (f"{run.name} was trained on {data.get('name')} ({kind}): this page shows motion capture runs, "
                f"trained on {MOCAP_NAMES}.")
    state = run.status().get("state", "unknown")
    if state in ("queued", "running"):
        return f"{run.name} is still training; it is shown here once it has finished."
    if not is_finished(run):
        return f"{run.name} has not finished ({state}), so it has no trained model to draw poses from."
    m = int(raw.get("model", {}).get("latent_dim") or 0)
    if m < 2:
        return f"{run.name} has a latent space of size {m}: the page draws a 2-D latent plane; train with 2 or more."
    root = data.get("root")
    if DATASETS[data["name"]].needs_root and not (root and Path(root).expanduser().is_dir()):
        return (f"{run.name} was trained on CMU files from the folder {root}, which is gone; "
                "put the files back there to see its poses.")
    return None


def _dataset(run: Run) -> str | None:
    try:
        return run.raw_config().get("data", {}).get("name")
    except RunError:
        return None


def mocap_runs(runs: Sequence[Run]) -> tuple[list[Run], list[str], str | None]:
    """The runs the page can show; one sentence per motion capture run it cannot show; one for all other runs."""
    shown, problems, others = [], [], []
    for run in runs:
        problem = mocap_problem(run)
        if problem is None:
            shown.append(run)
        elif _dataset(run) not in (None, *MOCAP_DATASETS):
            others.append(run.name)
        else:
            problems.append(problem)
    if not others:
        return shown, problems, None
    names = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return shown, problems, (f"Not listed: {names}, trained on other data. This page shows motion capture runs, "
                             f"trained on {MOCAP_NAMES}.")


def same_data(runs: Sequence[Run]) -> bool:
    """Whether the runs were trained on the same data (same test poses in the same order)."""
    return len({repr(sorted(r.raw_config().get("data", {}).items())) for r in runs}) <= 1


def default_runs(runs: Sequence[Run]) -> list[Run]:
    """The newest VAE and IRVAE on the same data as the newest run (side by side, paper Fig. 7), else the newest run."""
    if not runs:
        return []
    pick = {}
    for run in runs:
        method = method_name(run.raw_config())
        if method in ("VAE", "IRVAE") and method not in pick and same_data([runs[0], run]):
            pick[method] = run
    return [pick["VAE"], pick["IRVAE"]] if len(pick) == 2 else [runs[0]]


def frame_skeleton(data: DatasetSplits, index: int) -> tuple[Skeleton, str]:
    """The skeleton that draws test pose ``index``, and where the pose comes from (e.g. "trial 35_01, frame 121")."""
    if "skeleton" not in data.meta:
        raise ValueError(f"{data.name} has no skeleton to draw poses with: this page shows motion capture runs")
    if not 0 <= int(index) < len(data.test):
        raise ValueError(f"test pose #{index} does not exist: the test split has {len(data.test)} poses")
    frames = data.meta.get("test_frames")
    if frames is None:
        return data.meta["skeleton"], f"{'synthetic ' if data.synthetic else ''}test pose #{index}"
    trial, frame = frames[int(index)]
    subject = trial.rsplit("_", 1)[0]
    return data.meta.get("skeletons", {}).get(subject, data.meta["skeleton"]), f"trial {trial}, frame {frame + 1}"


def frame_of_class(view: LatentView, label: int, k: int = 0) -> int:
    """The test index of the k-th shown pose of class ``label``."""
    members = view.index[view.labels == label]
    if len(members) == 0:
        raise ValueError(f"no test pose of class {label} is shown")
    return int(members[min(int(k), len(members) - 1)])


def default_pair(view: LatentView) -> tuple[int, int]:
    """Two test poses to start from: the first shown pose of the first two classes (one class: its first two)."""
    classes = np.unique(view.labels)
    if len(classes) > 1:
        return frame_of_class(view, classes[0]), frame_of_class(view, classes[1])
    return int(view.index[0]), int(view.index[min(1, len(view.index) - 1)])


@dataclass
class FramePoses:
    """One test pose, as captured and as decoded by each model."""

    index: int
    label: str  # its class name
    source: str  # "trial 35_01, frame 121" or "synthetic test pose #4"
    skeleton: Skeleton
    edges: list[tuple[int, int]]  # (parent joint, joint) segments to draw
    original: np.ndarray  # (J, 3) joints in metres, root at the origin
    decoded: list[np.ndarray]  # per model: (J, 3) joints of decode(encode(x))
    errors: list[float]  # per model: RMS joint distance decoded vs original, metres

    def standing(self) -> np.ndarray:
        """(1 + models, J, 3): the captured pose then each decoded one, each standing on the floor (for drawing)."""
        return on_floor(np.stack([self.original, *self.decoded]))


def frame_poses(models: Sequence, data: DatasetSplits, index: int) -> FramePoses:
    """Test pose ``index`` drawn as captured (its 50-d feature) and as each model reconstructs it."""
    skeleton, source = frame_skeleton(data, index)
    x, y = data.test[int(index)]
    original = pose_joints(skeleton, np.asarray(x, dtype=np.float64))
    decoded = []
    for model in models:
        with torch.no_grad():
            features = model.decode(encode_test_examples(model, data, [index]))[0]
        decoded.append(pose_joints(skeleton, features.double().numpy()))
    errors = [float(np.sqrt(((d - original) ** 2).sum(-1).mean())) for d in decoded]
    names = data.label_names
    label = names[int(y)] if 0 <= int(y) < len(names) else str(int(y))
    return FramePoses(int(index), label, source, skeleton, skeleton_edges(skeleton), original, decoded, errors)


@dataclass
class PoseWalk:
    """The straight latent segment between two test poses' codes, decoded into poses."""

    path: DecodedPath  # latent points, decoded features and their feature-space speeds
    joints: np.ndarray  # (n, J, 3) joints in metres, root at the origin
    speeds: np.ndarray  # (n - 1,) RMS joint displacement per step, metres

    @property
    def speed_ratio(self) -> float:
        """max / min joint speed: 1 for a body moving at an even pace; inf when some step does not move."""
        lo = float(self.speeds.min())
        return float(self.speeds.max()) / lo if lo > 0 else float("inf")


@dataclass
class PoseWalks:
    """Each model's walk between the same two test poses, drawn with the first pose's skeleton."""

    a: int
    b: int
    skeleton: Skeleton
    edges: list[tuple[int, int]]
    walks: list[PoseWalk]  # one per model

    def standing(self) -> np.ndarray:
        """(models, n, J, 3): every pose standing on the floor (the root's height is not among the features)."""
        return on_floor(np.stack([w.joints for w in self.walks]))


def pose_walks(models: Sequence, data: DatasetSplits, a: int, b: int, n: int = 24) -> PoseWalks:
    """Each model's straight-line walk from test pose a to test pose b in n poses."""
    if int(a) == int(b):
        raise ValueError(f"test pose #{a} is both A and B: pick two different poses for a walk")
    skeleton, _ = frame_skeleton(data, a)
    walks = []
    for model in models:
        z = encode_test_examples(model, data, [a, b])
        path = interpolate(model.decode, z[0], z[1], n)
        joints = pose_joints(skeleton, path.decoded.double().numpy())
        walks.append(PoseWalk(path, joints, joint_speeds(joints)))
    return PoseWalks(int(a), int(b), skeleton, skeleton_edges(skeleton), walks)


def offered_runs(dataset: str = "cmu-sample", root: str | None = None) -> list[RunConfig]:
    """The VAE and IRVAE the page offers to train: the paper's CMU networks, OFFER_EPOCHS epochs each, decoder
    sigma fixed at OFFER_SIGMA, IRVAE weight OFFER_ALPHA."""
    if dataset not in MOCAP_DATASETS:
        raise ValueError(f"the page trains on {MOCAP_NAMES}; got {dataset!r}")
    base = {"data.name": dataset, "data.root": root, "data.options": {"n": OFFER_POSES} if dataset ==
            "synthetic-mocap" else {}, "model.fixed_sigma": OFFER_SIGMA, "train.epochs": OFFER_EPOCHS,
            "train.lr_schedule": "constant", "train.tensorboard": False}
    out = []
    for reg, name in (("none", "vae"), ("ir", "irvae")):
        cfg = apply_overrides(preset_config("cmu-fc"), {**base, "reg.kind": reg, "reg.alpha": OFFER_ALPHA if
                                                         reg == "ir" else None})
        cfg.name = f"mocap-{name}"
        out.append(cfg)
    return out


def check_cmu_folder(root: str) -> str:
    """Load a folder of CMU ASF/AMC files (DataError naming the bad file) and say what it holds."""
    allowed_data_folder(root)
    if not root or not Path(root).expanduser().is_dir():
        raise DataError(f"{root or 'the CMU folder'} is not a folder: give a folder of NN.asf and NN_MM.amc files")
    data = load_dataset("cmu", root)
    counts = np.bincount(data.train.y.numpy(), minlength=len(data.label_names))
    classes = ", ".join(f"{name} {c}" for name, c in zip(data.label_names, counts) if c)
    n = len(data.train) + len(data.val) + len(data.test)
    return f"{n} poses from {len(data.meta['trials'])} trials (training poses by class: {classes})"
