"""The ``synthetic-mocap`` dataset: SYNTHETIC walking, jogging, balancing and punching poses.

An offline stand-in for the paper's CMU data (Section 5.1.2), not captured motion. A CMU-like
skeleton (the CMU bone set, with rounded directions and lengths like CMU subject 35) is written
as ASF text and parsed by the real parser; each class's AMC channels are periodic functions of
time (per-sequence random speed, amplitude and phase, plus noise); frames become the paper's
50-d features through the same code as real CMU data, so poses draw with the same forward
kinematics. Split 5:1:1 like ``cmu`` (14,000 poses by default: 10k/2k/2k).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, random_split, register, select_classes
from irvae_core.mocap.asf import Skeleton, parse_asf_text
from irvae_core.mocap.features import FEATURE_NORMALIZATION, FEATURE_SCALE, feature_channels, features_from_channels
from irvae_core.mocap.kinematics import joint_names, skeleton_edges
from irvae_core.mocap.labels import CLASS_NAMES, class_indices

FPS = 30.0
SEQUENCE_FRAMES = 200

# name, parent, direction, length (CMU units), axis (degrees, XYZ), dof
_BONES = [
    ("lhipjoint", "root", (0.674, -0.716, 0.183), 2.64, (0, 0, 0), ""),
    ("lfemur", "lhipjoint", (0.342, -0.94, 0.0), 7.41, (0, 0, 20), "rx ry rz"),
    ("ltibia", "lfemur", (0.342, -0.94, 0.0), 7.93, (0, 0, 20), "rx"),
    ("lfoot", "ltibia", (0.079, -0.216, 0.973), 2.29, (-90, 0, 20), "rx rz"),
    ("ltoes", "lfoot", (0.0, 0.0, 1.0), 1.15, (-90, 0, 20), "rx"),
    ("rhipjoint", "root", (-0.631, -0.752, 0.192), 2.51, (0, 0, 0), ""),
    ("rfemur", "rhipjoint", (-0.342, -0.94, 0.0), 7.61, (0, 0, -20), "rx ry rz"),
    ("rtibia", "rfemur", (-0.342, -0.94, 0.0), 7.99, (0, 0, -20), "rx"),
    ("rfoot", "rtibia", (-0.109, -0.301, 0.947), 2.34, (-90, 0, -20), "rx rz"),
    ("rtoes", "rfoot", (0.0, 0.0, 1.0), 1.16, (-90, 0, -20), "rx"),
    ("lowerback", "root", (0.017, 0.994, -0.11), 2.03, (0, 0, 0), "rx ry rz"),
    ("upperback", "lowerback", (0.017, 1.0, 0.005), 2.03, (0, 0, 0), "rx ry rz"),
    ("thorax", "upperback", (0.008, 0.998, 0.056), 2.06, (0, 0, 0), "rx ry rz"),
    ("lowerneck", "thorax", (-0.001, 0.993, 0.121), 1.72, (0, 0, 0), "rx ry rz"),
    ("upperneck", "lowerneck", (0.014, 0.992, -0.128), 1.74, (0, 0, 0), "rx ry rz"),
    ("head", "upperneck", (0.002, 0.998, -0.056), 1.74, (0, 0, 0), "rx ry rz"),
    ("lclavicle", "thorax", (0.953, 0.285, -0.107), 3.53, (0, 0, 0), "ry rz"),
    ("lhumerus", "lclavicle", (1.0, 0.0, 0.0), 5.07, (180, -30, -90), "rx ry rz"),
    ("lradius", "lhumerus", (1.0, 0.0, 0.0), 3.6, (180, -30, -90), "rx"),
    ("lwrist", "lradius", (1.0, 0.0, 0.0), 1.8, (0, 90, 90), "ry"),
    ("lhand", "lwrist", (1.0, 0.0, 0.0), 0.45, (0, 90, 90), "rx rz"),
    ("lfingers", "lhand", (1.0, 0.0, 0.0), 0.36, (0, 90, 90), "rx"),
    ("lthumb", "lwrist", (0.707, 0.0, 0.707), 0.52, (-90, 45, 0), "rx rz"),
    ("rclavicle", "thorax", (-0.956, 0.219, -0.195), 3.66, (0, 0, 0), "ry rz"),
    ("rhumerus", "rclavicle", (-1.0, 0.0, 0.0), 5.36, (180, 30, 90), "rx ry rz"),
    ("rradius", "rhumerus", (-1.0, 0.0, 0.0), 3.58, (180, 30, 90), "rx"),
    ("rwrist", "rradius", (-1.0, 0.0, 0.0), 1.79, (0, -90, -90), "ry"),
    ("rhand", "rwrist", (-1.0, 0.0, 0.0), 0.66, (0, -90, -90), "rx rz"),
    ("rfingers", "rhand", (-1.0, 0.0, 0.0), 0.54, (0, -90, -90), "rx"),
    ("rthumb", "rwrist", (-0.707, 0.0, 0.707), 0.77, (-90, -45, 0), "rx rz"),
]

# standing pose (degrees): spine and neck as in CMU captures, arms down
_BASE = {
    "lowerback.rx": 10, "lowerneck.rx": -15, "upperneck.rx": 18, "head.rx": 8,
    "lfemur.rz": -20, "rfemur.rz": 22, "ltibia.rx": 10, "rtibia.rx": 10,
    "lhumerus.rx": -30, "lhumerus.rz": 83, "rhumerus.rx": -28, "rhumerus.ry": -10, "rhumerus.rz": -80,
    "lradius.rx": 25, "rradius.rx": 25, "lhand.rx": -25, "lhand.rz": 20, "rhand.rx": -20, "rhand.rz": 20,
    "lthumb.rz": 50, "rthumb.rz": -20,
}

# per class: cycles a second, and channel -> (offset from the base, amplitude, harmonic, phase / pi, wave)
_CLASSES: dict[str, tuple[float, dict]] = {
    "walking": (1.0, {
        "lfemur.rx": (-10, 20, 1, 0, "sin"), "rfemur.rx": (-10, 20, 1, 1, "sin"),
        "ltibia.rx": (25, 25, 1, 0.6, "sin"), "rtibia.rx": (25, 25, 1, 1.6, "sin"),
        "lfoot.rx": (-5, 12, 1, 0.3, "sin"), "rfoot.rx": (-5, 12, 1, 1.3, "sin"),
        "lhumerus.rx": (-3, 10, 1, 1, "sin"), "rhumerus.rx": (-3, 10, 1, 0, "sin"),
        "lradius.rx": (3, 5, 1, 1, "sin"), "rradius.rx": (3, 5, 1, 0, "sin"),
        "lowerback.rz": (0, 4, 1, 0, "sin"), "thorax.ry": (0, 4, 1, 1, "sin"),
    }),
    "jogging": (1.4, {
        "lfemur.rx": (-15, 35, 1, 0, "sin"), "rfemur.rx": (-15, 35, 1, 1, "sin"),
        "ltibia.rx": (45, 50, 1, 0.6, "sin"), "rtibia.rx": (45, 50, 1, 1.6, "sin"),
        "lfoot.rx": (10, 25, 1, 0.3, "sin"), "rfoot.rx": (10, 25, 1, 1.3, "sin"),
        "lhumerus.rx": (-8, 20, 1, 1, "sin"), "rhumerus.rx": (-8, 20, 1, 0, "sin"),
        "lradius.rx": (80, 10, 1, 1, "sin"), "rradius.rx": (75, 10, 1, 0, "sin"),
        "lowerback.rx": (5, 3, 2, 0, "sin"), "lowerback.rz": (0, 6, 1, 0, "sin"),
    }),
    "balancing": (0.2, {
        "rfemur.rx": (-70, 12, 1, 0, "sin"), "rtibia.rx": (70, 15, 1, 0.5, "sin"),
        "rfoot.rx": (30, 8, 1, 0, "sin"),
        "lfemur.rx": (-20, 4, 1, 1, "sin"), "ltibia.rx": (20, 5, 1, 1, "sin"),
        "lhumerus.rx": (17, 10, 1, 0, "sin"), "lhumerus.rz": (-75, 10, 1, 0.5, "sin"),
        "rhumerus.rx": (1, 10, 1, 1, "sin"), "rhumerus.rz": (67, 10, 1, 1.5, "sin"),
        "rradius.rx": (15, 8, 1, 0, "sin"), "upperneck.rx": (12, 5, 1, 0, "sin"),
        "lowerback.rx": (-5, 6, 1, 0.5, "sin"),
    }),
    "punching": (0.8, {
        "lfemur.rx": (-30, 5, 2, 0, "sin"), "rfemur.rx": (-12, 5, 2, 0, "sin"),
        "ltibia.rx": (45, 8, 2, 0, "sin"), "rtibia.rx": (45, 8, 2, 0, "sin"),
        "rfemur.ry": (12, 0, 1, 0, "sin"),
        "lhumerus.rx": (30, -40, 1, 0, "pulse"), "lhumerus.ry": (-12, 0, 1, 0, "sin"),
        "lhumerus.rz": (-8, 0, 1, 0, "sin"), "lradius.rx": (105, -100, 1, 0, "pulse"),
        "rhumerus.rx": (32, -40, 1, 1, "pulse"), "rhumerus.ry": (24, 0, 1, 0, "sin"),
        "rhumerus.rz": (5, 0, 1, 0, "sin"),
        "rradius.rx": (90, -90, 1, 1, "pulse"),
        "lowerback.ry": (0, 10, 1, 0, "sin"), "upperneck.rx": (-6, 0, 1, 0, "sin"),
    }),
}


def cmu_like_asf() -> str:
    """ASF text of the embedded CMU-like skeleton (CMU units: inches x 0.45, degrees)."""
    out = [":version 1.10", ":name irvae-synthetic", ":units", "  mass 1.0", "  length 0.45", "  angle deg",
           ":root", "  order TX TY TZ RX RY RZ", "  axis XYZ", "  position 0 0 0", "  orientation 0 0 0",
           ":bonedata"]
    for i, (name, _, direction, length, axis, dof) in enumerate(_BONES, start=1):
        out += ["  begin", f"    id {i}", f"    name {name}",
                "    direction " + " ".join(map(str, direction)), f"    length {length}",
                "    axis " + " ".join(map(str, axis)) + " XYZ"]
        out += [f"    dof {dof}"] if dof else []
        out += ["  end"]
    children: dict[str, list[str]] = {}
    for name, parent, *_ in _BONES:
        children.setdefault(parent, []).append(name)
    out += [":hierarchy", "  begin", *(f"    {p} {' '.join(c)}" for p, c in children.items()), "  end"]
    return "\n".join(out) + "\n"


@cache
def cmu_like_skeleton() -> Skeleton:
    """The embedded skeleton, parsed by the real ASF parser."""
    return parse_asf_text(cmu_like_asf(), source="synthetic-mocap skeleton")


def _wave(kind: str, angle: np.ndarray) -> np.ndarray:
    return np.sin(angle) if kind == "sin" else np.maximum(np.sin(angle), 0.0) ** 3


def motion_channels(label: str, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """AMC channels (n_frames, 62) in degrees of one synthetic sequence of class ``label``."""
    skeleton = cmu_like_skeleton()
    column = {f"{b}.{d}": i for i, (b, d) in enumerate(skeleton.channels)}
    rate, terms = _CLASSES[label]
    t = np.arange(n_frames) / FPS
    phase = 2 * np.pi * rate * rng.uniform(0.85, 1.15) * t + rng.uniform(0, 2 * np.pi)
    gain = rng.uniform(0.8, 1.2)
    out = np.zeros((n_frames, len(skeleton.channels)))
    for key, value in _BASE.items():
        out[:, column[key]] = value
    for key, (offset, amplitude, harmonic, shift, kind) in terms.items():
        out[:, column[key]] += offset + gain * amplitude * _wave(kind, harmonic * phase + np.pi * shift)
    return out + rng.normal(0.0, 1.5, out.shape)


def load_synthetic_mocap(root=None, classes=None, download=False, seed=0, n: int = 14_000,
                         **_) -> DatasetSplits:
    """``n`` synthetic poses (50-d, in [-1, 1]), a quarter a class, split 5:1:1 with ``seed``."""
    if n < 28:
        raise DataError(f"synthetic-mocap needs at least 28 poses (7 a class), got n={n}")
    skeleton = cmu_like_skeleton()
    rng = np.random.default_rng(seed)
    features, labels = [], []
    for k, label in enumerate(CLASS_NAMES):
        todo = n // 4 + (k < n % 4)
        while todo > 0:
            frames = min(SEQUENCE_FRAMES, todo)
            features.append(features_from_channels(skeleton, motion_channels(label, frames, rng)))
            labels.append(torch.full((frames,), k))
            todo -= frames
    x, y = torch.from_numpy(np.concatenate(features)), torch.cat(labels)
    if classes is not None:
        x, y = select_classes(x, y, class_indices(classes, CLASS_NAMES), len(CLASS_NAMES))
    n_val = n_test = len(x) // 7
    train, val, test = random_split(x, y, [len(x) - n_val - n_test, n_val, n_test], seed)
    meta = {
        "skeleton": skeleton, "feature_channels": feature_channels(skeleton), "feature_scale": FEATURE_SCALE,
        "feature_normalization": FEATURE_NORMALIZATION, "joint_names": joint_names(skeleton),
        "edges": skeleton_edges(skeleton), "fps": FPS,
        "split": f"{len(x)} synthetic poses (seed {seed}), shuffled and cut 5:1:1 (paper: 10k/2k/2k)",
    }
    return DatasetSplits("synthetic-mocap", train, val, test, (x.shape[1],), "class", list(CLASS_NAMES),
                         (-1.0, 1.0), synthetic=True, meta=meta)


register(DatasetInfo(
    "synthetic-mocap", load_synthetic_mocap,
    "SYNTHETIC mocap poses (offline stand-in for CMU, not captured motion): procedural walking / jogging / "
    "balancing / punching on a CMU-like skeleton, the paper's 50 joint angles in [-1, 1], 14,000 poses "
    "(option n) split 10k/2k/2k; FC networks, tanh decoder", needs_root=False, synthetic=True, arch="fc",
    out_act="tanh"))
