"""Acclaim motion (AMC) files: one frame number, then one line per bone with its dof values.

Values are returned as a (frames, channels) array in :attr:`Skeleton.channels` order; angles in
degrees (``:RADIANS`` files are converted), root translation in the ASF's length units.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irvae_core.errors import DataError
from irvae_core.mocap.asf import ROTATION_DOFS, Skeleton


@dataclass(frozen=True, eq=False)
class Motion:
    """One AMC trial: per-frame channel values on its skeleton."""

    name: str  # the trial id, e.g. "35_01"
    channels: np.ndarray  # (frames, len(skeleton.channels)) float64
    skeleton: Skeleton
    source: str = ""


def _slots(skeleton: Skeleton) -> dict[str, tuple[int, int]]:
    """Bone -> (first column, number of values) in :attr:`Skeleton.channels`."""
    out, start = {}, 0
    for bone in ("root", *skeleton.bones):
        k = len(skeleton.dof_of(bone))
        out[bone] = (start, k)
        start += k
    return out


def parse_amc(path: str | Path, skeleton: Skeleton) -> Motion:
    """Read an AMC motion file for ``skeleton`` (CRLF or LF, '#' comments, ':' header keywords)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise DataError(f"{path}: cannot read the AMC motion file ({e.strerror or e})") from e
    return parse_amc_text(text, skeleton, source=str(path), name=path.stem)


_KEYWORD = re.compile(r"^\s*:", re.MULTILINE)  # a line starting with a keyword (":DEGREES")


def _regular_frames(lines: list[str], slots: dict[str, tuple[int, int]], needed: set[str],
                    n_channels: int) -> np.ndarray | None:
    """All frames of an AMC body at once, when it is regular: every frame lists the same bones in the same order
    as the first one (each once, with its number of values), no comment or keyword among them, as CMU's files
    are. None for anything else: the line-by-line parser then reads the body and names what is wrong.

    ``lines``: the body, from the first frame number on, without blank lines."""
    period = next((i for i, line in enumerate(lines[1:], 1) if line.isdigit()), len(lines))
    order = [line.split(None, 1)[0] for line in lines[1:period]]
    if (not lines[0].isdigit() or len(lines) % period or len(set(order)) != len(order)
            or not set(order) <= set(slots) or not needed <= set(order)
            or not all(line.isdigit() for line in lines[::period])):
        return None
    frames = np.zeros((len(lines) // period, n_channels))
    for j, bone in enumerate(order, start=1):
        start, k = slots[bone]
        rows, head = lines[j::period], bone + " "
        # each line "bone v1 ... vk", single spaces: the values of all frames are then one string of numbers
        if not all(r.startswith(head) and r.count(" ") == k for r in rows) if k else any(r != bone for r in rows):
            return None
        if k:
            try:
                with warnings.catch_warnings():  # a non-number: a ValueError, or (older numpy) fewer values and a
                    warnings.simplefilter("ignore", DeprecationWarning)  # DeprecationWarning: the size check below
                    values = np.fromstring(" ".join(r[len(head):] for r in rows), sep=" ")
            except ValueError:
                return None
            if values.size != len(frames) * k:
                return None
            frames[:, start:start + k] = values.reshape(len(frames), k)
    return frames


def parse_amc_text(text: str, skeleton: Skeleton, source: str = "<amc>", name: str = "") -> Motion:
    """Parse the text of an AMC file; ``source`` names it in error messages.

    The header (keywords, comments) is read line by line; a regular body (``_regular_frames``) at once, else line
    by line too (the same numbers either way, tests/test_mocap_parsing.py)."""
    slots = _slots(skeleton)
    needed = {b for b, (_, k) in slots.items() if k > 0}
    n_channels = sum(k for _, k in slots.values())
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip().isdigit()), None)
    body = "\n".join(lines[first:]) if first is not None else ""
    if first is not None and "#" not in body and not _KEYWORD.search(body):
        radians = skeleton.angle_unit == "rad"
        for line in lines[:first]:
            key = (line.split("#", 1)[0].split() or [""])[0].upper()
            if key in (":DEGREES", ":RADIANS"):
                radians = key == ":RADIANS"
        channels = _regular_frames([s for line in lines[first:] if (s := line.strip())], slots, needed, n_channels)
        if channels is not None:
            return _motion(channels, radians, skeleton, name, source)
    return _parse_lines(text, skeleton, source, name)


def _motion(channels: np.ndarray, radians: bool, skeleton: Skeleton, name: str, source: str) -> Motion:
    if radians:
        rot = [i for i, (_, dof) in enumerate(skeleton.channels) if dof in ROTATION_DOFS]
        channels[:, rot] = np.degrees(channels[:, rot])
    return Motion(name, channels, skeleton, source)


def _parse_lines(text: str, skeleton: Skeleton, source: str, name: str) -> Motion:
    """The AMC text line by line, with an error naming the line of anything that does not fit."""
    slots = _slots(skeleton)
    needed = {b for b, (_, k) in slots.items() if k > 0}
    n_channels = sum(k for _, k in slots.values())
    frames: list[np.ndarray] = []
    frame = seen = None
    frame_line = 0
    radians = skeleton.angle_unit == "rad"

    def close_frame() -> None:
        if frame is not None:
            missing = sorted(needed - seen)
            if missing:
                raise DataError(f"{source}, line {frame_line}: frame has no values for bone {missing[0]!r}"
                                f" (expected a line for each of {len(needed)} bones with dofs)")
            frames.append(frame)

    for n, line in enumerate(text.splitlines(), start=1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        if s.startswith(":"):
            key = s.split()[0].upper()
            if key in (":DEGREES", ":RADIANS"):
                radians = key == ":RADIANS"
            continue
        words = s.split()
        if len(words) == 1 and words[0].isdigit():
            close_frame()
            frame, seen, frame_line = np.zeros(n_channels), set(), n
            continue
        if frame is None:
            raise DataError(f"{source}, line {n}: expected a frame number before bone values, got {s!r}")
        bone = words[0]
        if bone not in slots:
            raise DataError(f"{source}, line {n}: bone {bone!r} is not in the skeleton {skeleton.source!r}")
        start, k = slots[bone]
        if len(words) - 1 != k:
            dofs = " ".join(skeleton.dof_of(bone)) or "none"
            raise DataError(f"{source}, line {n}: bone {bone!r} needs {k} values ({dofs}), "
                            f"got {len(words) - 1}")
        try:
            frame[start:start + k] = [float(w) for w in words[1:]]
        except ValueError:
            raise DataError(f"{source}, line {n}: expected {k} numbers for bone {bone!r}, "
                            f"got {s!r}") from None
        seen.add(bone)
    close_frame()
    if not frames:
        raise DataError(f"{source}: expected an AMC motion with at least one frame, found none")
    return _motion(np.stack(frames), radians, skeleton, name, source)


def format_amc(skeleton: Skeleton, channels: np.ndarray) -> str:
    """AMC text (``:FULLY-SPECIFIED``, ``:DEGREES``) for (frames, channels) values in degrees."""
    slots = _slots(skeleton)
    out = [":FULLY-SPECIFIED", ":DEGREES"]
    for i, row in enumerate(np.atleast_2d(channels), start=1):
        out.append(str(i))
        for bone, (start, k) in slots.items():
            if k:
                out.append(" ".join([bone, *(repr(float(v)) for v in row[start:start + k])]))
    return "\n".join(out) + "\n"
