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

Splits: ``split="frames"`` (the default, the paper's, which uses 10,000 / 2,000 / 2,000 poses):
frames are pooled over all trials, shuffled with the seed, at most ``max_poses`` (default 14,000)
kept, and cut 5:1:1 into train / validation / test; with fewer frames the available ones are cut
in the same proportions. Neighbouring frames at 120 fps are near copies, so this random frame
split puts near-duplicates of test poses into training, as a pose-level split does.
``split="trials"`` (CLI ``--cmu-split trials``) keeps every trial in one split: per class, its
trials are shuffled with the seed and each goes to the split furthest below its share (5:1:1)
of that class's frames, then moves and swaps of trials bring the splits nearer their shares, so
that the proportions hold by frame count as nearly as whole trials allow. A class of at least 3
trials has trials in all three splits; one of 2 gives them to train and test, one of 1 to train
(``meta["split"]`` names such classes). When there are more than ``max_poses`` frames, each
split keeps a seeded uniform sample of its frames, in proportion, so that the total is
``max_poses``. ``meta["split_trials"]`` lists each split's trials.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from irvae_core.data.cmu_download import download_trials
from irvae_core.data.registry import (
    DataError,
    DatasetInfo,
    DatasetSplits,
    TensorSplit,
    random_split,
    register,
    select_classes,
)
from irvae_core.mocap.amc import parse_amc
from irvae_core.mocap.asf import Skeleton, parse_asf
from irvae_core.mocap.features import FEATURE_NORMALIZATION, FEATURE_SCALE, feature_channels, features_from_channels
from irvae_core.mocap.kinematics import joint_names, skeleton_edges
from irvae_core.mocap.labels import CLASS_NAMES, class_indices, class_of_trials, read_classes_csv

CMU_FPS = 120.0
PAPER_POSES = 14_000  # 10,000 / 2,000 / 2,000
SPLITS = ("frames", "trials")
SPLIT_NAMES = ("train", "val", "test")
SPLIT_SHARES = (5 / 7, 1 / 7, 1 / 7)


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


def assign_trials(frames: dict[str, int], rng: np.random.Generator) -> dict[str, str]:
    """One class's trials (trial -> its frames) -> their splits ("train", "val", "test").

    The trials, shuffled by ``rng``, go one by one to the split furthest below its share (5:1:1) of
    the class's frames (ties: the earlier split); with at least 3 trials every split gets one (the
    last trials go to splits still empty). Then single moves and swaps of trials that bring the
    splits nearer their shares (in squared deviation relative to each share), keeping every split
    a trial, are made while there are any. With 2 trials they go to train and test, with 1 to train.
    """
    order = [sorted(frames)[i] for i in rng.permutation(len(frames))]
    if len(order) < 3:
        return dict(zip(order, ("train", "test")))
    target = {s: share * sum(frames.values()) for s, share in zip(SPLIT_NAMES, SPLIT_SHARES)}
    assigned = dict.fromkeys(SPLIT_NAMES, 0)
    count = dict.fromkeys(SPLIT_NAMES, 0)
    out: dict[str, str] = {}
    for i, trial in enumerate(order):
        empty = [s for s in SPLIT_NAMES if count[s] == 0]
        choices = empty if len(order) - i <= len(empty) else SPLIT_NAMES
        best = max(choices, key=lambda s: target[s] - assigned[s])
        out[trial] = best
        assigned[best] += frames[trial]
        count[best] += 1

    def gain(a: str, b: str, moved: int) -> float:  # the deviation saved by moving ``moved`` frames from a to b
        before = (assigned[a] - target[a]) ** 2 / target[a] + (assigned[b] - target[b]) ** 2 / target[b]
        after = (assigned[a] - moved - target[a]) ** 2 / target[a] + (assigned[b] + moved - target[b]) ** 2 / target[b]
        return before - after

    improved = True
    while improved:
        improved = False
        for trial in order:
            a = out[trial]
            for b in SPLIT_NAMES:
                if b != a and count[a] > 1 and gain(a, b, frames[trial]) > 1e-9:
                    out[trial], count[a], count[b] = b, count[a] - 1, count[b] + 1
                    assigned[a], assigned[b] = assigned[a] - frames[trial], assigned[b] + frames[trial]
                    improved = True
                    break
        for i, t in enumerate(order):
            for u in order[i + 1:]:
                a, b, moved = out[t], out[u], frames[t] - frames[u]
                if a != b and gain(a, b, moved) > 1e-9:
                    out[t], out[u] = b, a
                    assigned[a], assigned[b] = assigned[a] - moved, assigned[b] + moved
                    improved = True
    return out


def _trial_split(trial_of: torch.Tensor, y: torch.Tensor, trial_ids: list[str], label_names: list[str],
                 seed: int, max_poses: int | None) -> tuple[list[torch.Tensor], str, dict[str, list[str]]]:
    """The frames (``trial_of``: each frame's trial number) split by trials, class by class: each
    split's frame indices (shuffled, capped in proportion at ``max_poses`` in all), a sentence saying
    what was done, and each split's trial ids."""
    split_of: dict[int, str] = {}
    short: list[str] = []
    for c, name in enumerate(label_names):
        numbers, counts = torch.unique(trial_of[y == c], return_counts=True)
        if not len(numbers):
            continue
        rng = np.random.default_rng([seed % 2**63, c])  # per class: one class's split ignores the others
        frames = {trial_ids[k]: int(n) for k, n in zip(numbers.tolist(), counts.tolist())}
        split_of |= {trial_ids.index(t): s for t, s in assign_trials(frames, rng).items()}
        if len(frames) < 3:
            short.append(f"{name} ({len(frames)} trial{'s' * (len(frames) > 1)}: "
                         f"{'train and test' if len(frames) == 2 else 'train'} only)")
    split_index = torch.full((len(trial_ids),), -1, dtype=torch.long)  # trial number -> its split's index
    for k, s in split_of.items():
        split_index[k] = SPLIT_NAMES.index(s)
    which = split_index[trial_of]
    held_out = ""
    if not (which == 1).any():  # no class has 3 trials: validation is the last sixth of each training trial
        for k in torch.unique(trial_of[which == 0]).tolist():
            rows = torch.nonzero(trial_of == k).flatten()  # a trial's frames, in their order
            which[rows[len(rows) - len(rows) // 6:]] = 1
        held_out = ("; no trial left for validation: it is the last sixth of each training trial's frames "
                    "(the test trials stay unseen)")
    pools = [torch.nonzero(which == i).flatten() for i in range(len(SPLIT_NAMES))]
    total = sum(len(p) for p in pools)
    keep = [len(p) for p in pools]
    if max_poses is not None and total > max_poses:  # largest remainders: the total is exactly max_poses
        exact = [len(p) * max_poses / total for p in pools]
        keep = [int(e) for e in exact]
        for i in sorted(range(len(pools)), key=lambda i: keep[i] - exact[i])[:max_poses - sum(keep)]:
            keep[i] += 1
    g = torch.Generator().manual_seed(seed)
    parts = [p[torch.randperm(len(p), generator=g)[:n]] for p, n in zip(pools, keep)]
    split_trials = {s: sorted(trial_ids[k] for k, v in split_of.items() if v == s) for s in SPLIT_NAMES}
    counts = ", ".join(f"{s} {len(split_trials[s])} trials / {n} frames" for s, n in zip(SPLIT_NAMES, keep))
    capped = (f", each split sampled uniformly to {sum(keep)} of the {total} frames in all (max_poses)"
              if sum(keep) < total else "")
    note = (f"; too few trials for every split: {', '.join(short)}, a class needs 3 trials to be in all three"
            if short else "")
    described = (f"split by trials, no trial in two splits (trials of each class shuffled with seed {seed}, "
                 f"assigned to approach 5:1:1 by frames): {counts}{capped}{note}{held_out}")
    return parts, described, split_trials


def load_cmu(root=None, classes=None, download=False, seed=0, trials: Sequence[str] | None = None,
             frame_step: int = 1, max_poses: int | None = PAPER_POSES, all_trials: bool = False,
             split: str = "frames", **_) -> DatasetSplits:
    """CMU trials under ``root`` as 50-d poses; ``trials`` picks some, ``frame_step`` keeps every k-th.

    Only trials of the paper's four classes unless ``all_trials``; ``split`` is "frames" (a random
    frame split, the paper's) or "trials" (no trial in two splits); see the module docstring.
    """
    if split not in SPLITS:
        raise DataError(f"unknown cmu split {split!r}; the allowed values are 'frames' (a random frame split, "
                        "the default) and 'trials' (no trial in two splits)")
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
            skeletons[asf] = _skeleton(str(asf), *_stamp(asf))
        features[trial] = _features(str(amc), *_stamp(amc), str(asf), *_stamp(asf), frame_step)
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
    trial_ids = list(features)  # source's trial numbers index this, in the order of x
    extra: dict = {}
    if split == "frames":
        n = len(x) if max_poses is None else min(len(x), max_poses)
        n_val = n_test = n // 7
        sizes = [n - n_val - n_test, n_val, n_test]
        train, val, test = random_split(x, y, sizes, seed)
        test_source = random_split(source, y, sizes, seed)[2].x.tolist()  # same order as x
        described = f"{n} of {len(x)} frames, shuffled with seed {seed}, cut 5:1:1 (paper: 10k/2k/2k)"
    else:
        parts, described, split_trials = _trial_split(source[:, 0], y, trial_ids, label_names, seed, max_poses)
        train, val, test = (TensorSplit(x[idx], y[idx]) for idx in parts)
        test_source = source[parts[2]].tolist()
        extra["split_trials"] = split_trials
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
        "split": described,
        "test_frames": [(trial_ids[k], i) for k, i in test_source],  # per test pose: (trial, 0-based AMC frame)
        "skipped_trials": skipped,
        **extra,
    }
    return DatasetSplits("cmu", train, val, test, (x.shape[1],), "class", label_names, (-1.0, 1.0),
                         meta=meta)


def _stamp(path: Path) -> tuple[int, int]:
    """A file's modification time and size: a cache key that changes when the file does."""
    try:
        st = path.stat()
    except OSError:  # gone since it was listed: the parser says so in its own words
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


# Parsed skeletons and each trial's poses, kept per process by file (path, mtime, size): a reproduction loads
# its data set for every run's training, evaluation and suite, and parsing the shipped sample's six trials took
# 0.6 s each time (28 times in a tiny cmu-tradeoff: 17 of its 30 s). Callers get shared objects: read-only arrays,
# and skeletons nothing changes. At most 32 trials (float32 poses: the shipped sample's six take 1.6 MB): a larger root
# is parsed each time, as before, and a process's memory stays bounded.
@functools.lru_cache(maxsize=32)
def _skeleton(asf: str, mtime_ns: int, size: int) -> Skeleton:
    return parse_asf(asf)


@functools.lru_cache(maxsize=32)
def _features(amc: str, mtime_ns: int, size: int, asf: str, asf_mtime_ns: int, asf_size: int,
              frame_step: int) -> np.ndarray:
    motion = parse_amc(amc, _skeleton(asf, asf_mtime_ns, asf_size))
    out = features_from_channels(motion.skeleton, motion.channels[::frame_step])
    out.flags.writeable = False
    return out


# ``cmu-sample``: six real CMU trials shipped inside the package (irvae_core/data/cmu_sample/, 6 MB, the files as
# CMU publishes them), one to two of each of the paper's classes, every subject's skeleton parsing; README.md there
# lists them and credits the database.
SAMPLE_DIR = Path(__file__).with_name("cmu_sample")
SAMPLE_TRIALS = {"07_05": "walking", "35_01": "walking", "09_06": "jogging", "49_18": "balancing",
                 "49_19": "balancing", "13_17": "punching"}


def load_cmu_sample(root=None, classes=None, download=False, seed=0, **options) -> DatasetSplits:
    """The shipped CMU sample (SAMPLE_TRIALS, 7,915 poses) through :func:`load_cmu`, with the same options
    (``split``, ``frame_step``, ``max_poses``, ``trials``); ``root`` and ``download`` do not apply."""
    if not all((SAMPLE_DIR / f"{t}.amc").is_file() for t in SAMPLE_TRIALS):
        raise DataError(f"{SAMPLE_DIR}: the shipped CMU sample is incomplete (expected {', '.join(SAMPLE_TRIALS)}"
                        ".amc with their subjects' .asf files); reinstall IRVAE Lab")
    data = load_cmu(SAMPLE_DIR, classes, False, seed, **options)
    return dataclasses.replace(data, name="cmu-sample")


register(DatasetInfo(
    "cmu", load_cmu,
    "CMU motion capture (ASF/AMC folder): 50 joint angles a pose in [-1, 1], classes walking / jogging / "
    "balancing / punching, 5:1:1 frame split (paper 10k/2k/2k); FC networks, tanh decoder",
    needs_root=True, arch="fc", out_act="tanh"))
register(DatasetInfo(
    "cmu-sample", load_cmu_sample,
    "six real CMU motion capture trials shipped with IRVAE Lab (offline): 7,915 poses, walking / jogging / "
    "balancing / punching, the cmu loader's 50 joint angles and 5:1:1 frame split; FC networks, tanh decoder",
    needs_root=False, arch="fc", out_act="tanh"))
