"""The ``cmu`` dataset: CMU Graphics Lab motion capture as the paper's 50-d poses (Section 5.1.2).

Root layout: ``NN.asf`` skeletons and ``NN_MM.amc`` motions in one folder, or one subfolder a
subject (``root/35/35_01.amc``, as in the CMU archive's ``all_asfamc/subjects``). Each frame's
62 AMC channels become 50 joint angles in [-1, 1] (see :mod:`irvae_core.mocap.features`); labels
are the four classes walking / jogging / balancing / punching (see :mod:`irvae_core.mocap.labels`;
``classes.csv`` in the root overrides them).

Trials: by default only trials of those four classes are loaded (the paper's experiment; the
others under the root are skipped unread and counted in ``meta["skipped_trials"]``), so the
full CMU archive gives the paper's data. ``all_trials=True`` (CLI ``--cmu-all-trials``) keeps
every trial; one of no known class is labelled by its subject ("subject 35").

Splits: the paper uses 10,000 / 2,000 / 2,000 poses. Frames are pooled over all trials, shuffled
with the seed, at most ``max_poses`` (default 14,000) kept, and cut 5:1:1 into train /
validation / test; with fewer frames the available ones are cut in the same proportions.
Neighbouring frames are nearly equal, so a random frame split shares motions across splits, as
a pose-level split does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from irvae_core.data.cmu_download import download_trials
from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, random_split, register, select_classes
from irvae_core.mocap.amc import parse_amc
from irvae_core.mocap.asf import Skeleton, parse_asf
from irvae_core.mocap.features import FEATURE_NORMALIZATION, FEATURE_SCALE, feature_channels, features_from_channels
from irvae_core.mocap.kinematics import joint_names, skeleton_edges
from irvae_core.mocap.labels import CLASS_NAMES, class_indices, class_of_trials, read_classes_csv

CMU_FPS = 120.0
PAPER_POSES = 14_000  # 10,000 / 2,000 / 2,000


def find_trials(root: Path) -> dict[str, tuple[Path, Path]]:
    """Trial id -> (AMC file, its subject's ASF file), from ``root`` and its subject subfolders."""
    out: dict[str, tuple[Path, Path]] = {}
    for amc in sorted(root.glob("*.amc")) + sorted(root.glob("*/*.amc")):
        trial = amc.stem
        subject = trial.rsplit("_", 1)[0]
        candidates = [amc.parent / f"{subject}.asf", root / f"{subject}.asf"]
        asf = next((p for p in candidates if p.is_file()), None)
        if asf is None:
            raise DataError(f"{amc}: no skeleton for subject {subject}; expected {candidates[0]}")
        out.setdefault(trial, (amc, asf))
    return out


def load_cmu(root=None, classes=None, download=False, seed=0, trials: Sequence[str] | None = None,
             frame_step: int = 1, max_poses: int | None = PAPER_POSES, all_trials: bool = False,
             **_) -> DatasetSplits:
    """CMU trials under ``root`` as 50-d poses; ``trials`` picks some, ``frame_step`` keeps every k-th.

    Only trials of the paper's four classes unless ``all_trials`` (see the module docstring).
    """
    root = Path(root)
    if download:
        if not trials:
            raise DataError("downloading CMU motions needs trials=[...] naming them, e.g. ['35_01', '09_06']")
        download_trials(root, list(trials))
    if frame_step < 1:
        raise DataError(f"frame_step must be a positive integer, got {frame_step}")
    found = find_trials(root)
    if not found:
        raise DataError(f"{root}: expected CMU motion files (NN_MM.amc beside NN.asf, or in a subfolder "
                        "a subject such as 35/35_01.amc); found none")
    if trials:
        missing = [t for t in trials if t not in found]
        if missing:
            raise DataError(f"{root}: trial {missing[0]} not found; expected {missing[0]}.amc there "
                            "(download=True fetches named trials)")
        found = {t: found[t] for t in trials}
    overrides = read_classes_csv(root / "classes.csv") if (root / "classes.csv").is_file() else {}
    class_of = class_of_trials(list(found), overrides, unknown="subject" if all_trials else "skip")
    if not all_trials:
        class_of = {t: c for t, c in class_of.items() if c in CLASS_NAMES}
        if not class_of:
            raise DataError(f"{root}: none of its {len(found)} trials is one of the paper's classes "
                            f"({', '.join(CLASS_NAMES)}) by the built-in list or a classes.csv there (lines "
                            "'trial,class'); all_trials=True (--cmu-all-trials) keeps every trial")
    skipped = len(found) - len(class_of)
    found = {t: found[t] for t in class_of}

    skeletons: dict[Path, Skeleton] = {}
    features: dict[str, np.ndarray] = {}
    for trial, (amc, asf) in found.items():
        if asf not in skeletons:
            skeletons[asf] = parse_asf(asf)
        motion = parse_amc(amc, skeletons[asf])
        features[trial] = features_from_channels(motion.skeleton, motion.channels[::frame_step])
    first = next(iter(skeletons.values()))
    channels = feature_channels(first)
    for skel in skeletons.values():
        if feature_channels(skel) != channels:
            raise DataError(f"{skel.source}: its joint channels differ from those of {first.source}; "
                            "all skeletons must have the same bones and dofs")

    label_names = CLASS_NAMES + sorted(set(class_of.values()) - set(CLASS_NAMES))
    x = torch.from_numpy(np.concatenate(list(features.values())))
    y = torch.cat([torch.full((len(f),), label_names.index(class_of[t])) for t, f in features.items()])
    # each frame's (trial number, frame in its AMC file), split alongside x: which skeleton draws it
    source = torch.cat([torch.stack([torch.full((len(f),), k), torch.arange(len(f)) * frame_step], 1)
                        for k, f in enumerate(features.values())])
    if classes is not None:
        source, _ = select_classes(source, y, class_indices(classes, label_names), len(label_names))
        x, y = select_classes(x, y, class_indices(classes, label_names), len(label_names))
    n = len(x) if max_poses is None else min(len(x), max_poses)
    n_val = n_test = n // 7
    sizes = [n - n_val - n_test, n_val, n_test]
    train, val, test = random_split(x, y, sizes, seed)
    test_source, trial_ids = random_split(source, y, sizes, seed)[2].x.tolist(), list(features)  # same order as x
    meta = {
        "skeleton": first,
        "skeletons": {asf.stem: skel for asf, skel in skeletons.items()},
        "feature_channels": channels,
        "feature_scale": FEATURE_SCALE,
        "feature_normalization": FEATURE_NORMALIZATION,
        "joint_names": joint_names(first),
        "edges": skeleton_edges(first),
        "fps": CMU_FPS / frame_step,
        "trials": {t: {"class": class_of[t], "frames": len(f), "amc": str(found[t][0])}
                   for t, f in features.items()},
        "split": f"{n} of {len(x)} frames, shuffled with seed {seed}, cut 5:1:1 (paper: 10k/2k/2k)",
        "test_frames": [(trial_ids[k], i) for k, i in test_source],  # per test pose: (trial, 0-based AMC frame)
        "skipped_trials": skipped,
    }
    return DatasetSplits("cmu", train, val, test, (x.shape[1],), "class", label_names, (-1.0, 1.0),
                         meta=meta)


register(DatasetInfo(
    "cmu", load_cmu,
    "CMU motion capture (ASF/AMC folder): 50 joint angles a pose in [-1, 1], classes walking / jogging / "
    "balancing / punching, 5:1:1 frame split (paper 10k/2k/2k); FC networks, tanh decoder",
    needs_root=True, arch="fc", out_act="tanh"))
