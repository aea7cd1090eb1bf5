"""Class labels of CMU trials: the paper's four motion classes (Section 5.1.2).

:data:`CMU_TRIAL_CLASSES` is a built-in list read from the CMU database index (trial
descriptions "walk", "run/jog" / "run", "balance on one leg", "boxing" / "punch"); only trials
whose whole description is that motion are listed (no turns mixed with jumps, no vignettes). A
``classes.csv`` in the data root (lines ``trial,class``) overrides it; a trial in neither has
no class: the ``cmu`` loader skips it, or labels it by its subject when asked for all trials.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from irvae_core.errors import DataError

CLASS_NAMES = ["walking", "jogging", "balancing", "punching"]


def _trials(subject: int, *trials: int | range) -> list[str]:
    out = []
    for t in trials:
        out += [f"{subject:02d}_{i:02d}" for i in (t if isinstance(t, range) else [t])]
    return out


_WALKING = [
    *_trials(2, 1, 2), *_trials(5, 1), *_trials(6, 1), *_trials(7, range(1, 13)), *_trials(8, range(1, 12)),
    *_trials(10, 4), *_trials(12, 1, 2, 3), *_trials(16, 15, 16, 21, 22, 31, 32, 47, 58), *_trials(26, 1),
    *_trials(27, 1), *_trials(29, 1), *_trials(32, 1, 2), *_trials(35, range(1, 17), range(28, 35)),
    *_trials(37, 1), *_trials(38, 1, 2), *_trials(39, range(1, 11), 12, 13, 14), *_trials(43, 1),
    *_trials(45, 1), *_trials(46, 1), *_trials(49, 1), *_trials(55, 4), *_trials(69, range(1, 6)),
    *_trials(81, 2, 3, 17), *_trials(82, 11, 13), *_trials(111, 34, 35), *_trials(113, 25),
    *_trials(114, 13, 14, 15), *_trials(120, 20), *_trials(136, range(20, 25)), *_trials(137, 29),
    *_trials(141, 19, 25), *_trials(143, 32), *_trials(144, 33, 34),
]
_JOGGING = [
    *_trials(2, 3), *_trials(9, range(1, 12)), *_trials(16, range(35, 47), 55, 56),
    *_trials(35, range(17, 27)),
    *_trials(38, 3), *_trials(104, 1, 4), *_trials(111, 23, 24), *_trials(113, 7), *_trials(127, 3, 6, 7, 8),
    *_trials(141, 1, 2, 3, 34), *_trials(143, 1, 42),
]
_BALANCING = [*_trials(49, 18, 19, 20)]
_PUNCHING = [
    *_trials(2, 5), *_trials(13, 17, 18), *_trials(14, 1, 2, 3), *_trials(15, 13), *_trials(17, 10),
    *_trials(79, 8), *_trials(80, 10), *_trials(143, 23), *_trials(144, 13, 14, 20, 21),
]

CMU_TRIAL_CLASSES: dict[str, str] = {
    trial: name
    for name, trials in zip(CLASS_NAMES, [_WALKING, _JOGGING, _BALANCING, _PUNCHING])
    for trial in trials
}


def read_classes_csv(path: str | Path) -> dict[str, str]:
    """Read ``trial,class`` lines (an optional header line, blank lines and '#' comments allowed)."""
    path = Path(path)
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read the class list ({e.strerror or e})") from e
    first = True
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        parts = [p.strip() for p in s.split(",")]
        header, first = first and parts[0].lower() == "trial", False
        if header:
            continue
        if len(parts) != 2 or not all(parts):
            raise DataError(f"{path}, line {n}: expected 'trial,class' (e.g. 35_01,walking), got {s!r}")
        out[parts[0]] = parts[1]
    return out


def class_of_trials(trials: list[str], overrides: dict[str, str] | None = None,
                    unknown: Literal["id", "subject", "skip"] = "id") -> dict[str, str]:
    """Trial id -> class: ``overrides`` first, then the built-in list.

    A trial in neither is labelled by its own id with a warning (``unknown="id"``), by its
    subject, e.g. "subject 35" (``"subject"``), or left out of the result (``"skip"``).
    """
    overrides = overrides or {}
    out, missing = {}, []
    for trial in trials:
        name = overrides.get(trial) or CMU_TRIAL_CLASSES.get(trial)
        if name is None:
            if unknown == "skip":
                continue
            missing.append(trial)
            name = trial if unknown == "id" else f"subject {trial.rsplit('_', 1)[0]}"
        out[trial] = name
    if missing and unknown == "id":
        warnings.warn(f"no class known for CMU trial(s) {', '.join(missing)}: labelled by their own id; "
                      "list them in classes.csv in the data root (lines 'trial,class')", stacklevel=2)
    return out


def class_indices(classes: Sequence, label_names: list[str]) -> list[int]:
    """Class subset given by names (e.g. "walking") or indices -> indices into ``label_names``."""
    out = []
    for c in classes:
        if isinstance(c, str) and not c.isdigit():
            if c not in label_names:
                raise DataError(f"unknown class {c!r}; the classes here are {', '.join(label_names)}")
            out.append(label_names.index(c))
        else:
            out.append(int(c))
    return out
