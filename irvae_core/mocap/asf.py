"""Acclaim skeleton (ASF) files, as used by the CMU Graphics Lab motion capture database.

An ASF file gives the rest pose of a skeleton: for each bone its direction (a unit vector in
world coordinates), length, local axis (Euler angles and their order) and degrees of freedom,
then the hierarchy. Angles are kept in degrees here whatever the file's ``:units angle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irvae_core.errors import DataError

INCH_IN_METRES = 0.0254
ROTATION_DOFS = ("rx", "ry", "rz")
DOFS = ("tx", "ty", "tz", "rx", "ry", "rz", "l")


@dataclass(frozen=True, eq=False)
class Bone:
    """One ASF bone: rest direction (unit, world frame), length (file units), local axis, dofs."""

    name: str
    direction: np.ndarray  # (3,), unit length
    length: float  # in the file's length units
    axis: np.ndarray  # (3,) degrees, applied in axis_order
    axis_order: str  # e.g. "XYZ"
    dof: tuple[str, ...]  # e.g. ("rx", "ry", "rz"), in the order AMC values are given


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A parsed ASF skeleton. ``bones`` keeps the file's order; ``parent`` maps bone -> parent."""

    name: str
    bones: dict[str, Bone]
    parent: dict[str, str]  # every bone's parent ("root" for the root's children)
    root_order: tuple[str, ...]  # root channels, e.g. ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis_order: str
    root_position: np.ndarray  # (3,) rest position, file units (AMC root translations are absolute)
    root_orientation: np.ndarray  # (3,) degrees
    length_unit: float  # the ASF ":units length" value
    mass_unit: float
    angle_unit: str  # the file's angle unit, "deg" or "rad" (values here are in degrees)
    joint_names: tuple[str, ...]  # "root" then every bone, each after its parent
    source: str = ""

    @property
    def metres_per_unit(self) -> float:
        """CMU convention: a file length divided by ``:units length`` is in inches."""
        return INCH_IN_METRES / self.length_unit

    @property
    def channels(self) -> list[tuple[str, str]]:
        """The AMC channels of one frame as (bone, dof): the root's, then each bone's in file order."""
        out = [("root", d) for d in self.root_order]
        for bone in self.bones.values():
            out += [(bone.name, d) for d in bone.dof]
        return out

    def dof_of(self, bone: str) -> tuple[str, ...]:
        return self.root_order if bone == "root" else self.bones[bone].dof


class _Lines:
    """Meaningful lines of a text file with their 1-based line numbers (comments and blanks dropped)."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.items = [(i + 1, line.split("#", 1)[0].strip()) for i, line in enumerate(text.splitlines())]
        self.items = [(n, s) for n, s in self.items if s]

    def error(self, line: int, what: str) -> DataError:
        return DataError(f"{self.source}, line {line}: {what}")


def _floats(lines: _Lines, line: int, words: list[str], n: int, what: str) -> np.ndarray:
    try:
        values = [float(w) for w in words[:n]]
    except ValueError:
        values = []
    if len(values) != n:
        raise lines.error(line, f"expected {n} numbers for {what}, got {' '.join(words)!r}")
    return np.array(values, dtype=np.float64)


def _axis_order(lines: _Lines, line: int, word: str) -> str:
    order = word.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise lines.error(line, f"expected an axis order such as XYZ, got {word!r}")
    return order


def parse_asf(path: str | Path) -> Skeleton:
    """Read an ASF skeleton file (CRLF or LF line endings)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise DataError(f"{path}: cannot read the ASF skeleton file ({e.strerror or e})") from e
    return parse_asf_text(text, source=str(path))


def parse_asf_text(text: str, source: str = "<asf>") -> Skeleton:
    """Parse the text of an ASF file; ``source`` names it in error messages."""
    lines = _Lines(text, source)
    fields: dict = {"name": "", "length": 1.0, "mass": 1.0, "angle": "deg", "order": (),
                    "axis": "XYZ", "position": np.zeros(3), "orientation": np.zeros(3)}
    raw_bones: list[dict] = []
    parent: dict[str, str] = {}
    section = ""
    bone: dict | None = None
    last_line = 0
    for n, s in lines.items:
        last_line = n
        words = s.split()
        key = words[0].lower()
        if key.startswith(":"):
            section = key
            if key == ":name" and len(words) > 1:
                fields["name"] = " ".join(words[1:])
            continue
        if section == ":units":
            if key in ("mass", "length"):
                fields[key] = float(_floats(lines, n, words[1:], 1, f"the {key} unit")[0])
                if fields[key] <= 0:
                    raise lines.error(n, f"expected a positive {key} unit, got {s!r}")
            elif key == "angle":
                unit = words[1].lower() if len(words) > 1 else ""
                if unit not in ("deg", "rad"):
                    raise lines.error(n, f"expected 'angle deg' or 'angle rad', got {s!r}")
                fields["angle"] = unit
        elif section == ":root":
            if key == "order":
                fields["order"] = tuple(w.lower() for w in words[1:])
                if not set(fields["order"]) <= set(DOFS) - {"l"}:
                    raise lines.error(n, f"expected root channels among TX TY TZ RX RY RZ, got {s!r}")
            elif key == "axis":
                fields["axis"] = _axis_order(lines, n, words[1] if len(words) > 1 else "")
            elif key in ("position", "orientation"):
                fields[key] = _floats(lines, n, words[1:], 3, f"the root {key}")
        elif section == ":bonedata":
            if key == "begin":
                bone = {"line": n, "dof": (), "axis": np.zeros(3), "axis_order": "XYZ"}
            elif key == "end":
                if bone is None or "name" not in bone:
                    raise lines.error(n, "a bone ends without a 'name'")
                for need in ("direction", "length"):
                    if need not in bone:
                        raise lines.error(bone["line"], f"bone {bone['name']!r} has no '{need}'")
                raw_bones.append(bone)
                bone = None
            elif bone is None:
                raise lines.error(n, f"expected 'begin' of a bone, got {s!r}")
            elif key == "name":
                if len(words) != 2:
                    raise lines.error(n, f"expected 'name' and one bone name, got {s!r}")
                bone["name"] = words[1]
            elif key == "direction":
                bone["direction"] = _floats(lines, n, words[1:], 3, "a bone direction")
            elif key == "length":
                bone["length"] = float(_floats(lines, n, words[1:], 1, "a bone length")[0])
            elif key == "axis":
                bone["axis"] = _floats(lines, n, words[1:], 3, "a bone axis")
                bone["axis_order"] = _axis_order(lines, n, words[4] if len(words) > 4 else "XYZ")
            elif key == "dof":
                dof = tuple(w.lower() for w in words[1:])
                bad = [d for d in dof if d not in DOFS]
                if bad:
                    raise lines.error(n, f"unknown degree of freedom {bad[0]!r}; expected some of {DOFS}")
                bone["dof"] = dof
        elif section == ":hierarchy":
            if key in ("begin", "end"):
                continue
            for child in words[1:]:
                parent[child] = words[0]
    if bone is not None:
        raise lines.error(last_line, f"bone starting at line {bone['line']} has no 'end'")
    if not raw_bones:
        raise DataError(f"{source}: expected an ASF skeleton with a ':bonedata' section, found no bones")
    return _build(fields, raw_bones, parent, source)


def _build(fields: dict, raw_bones: list[dict], parent: dict[str, str], source: str) -> Skeleton:
    to_deg = 180.0 / np.pi if fields["angle"] == "rad" else 1.0
    bones: dict[str, Bone] = {}
    for b in raw_bones:
        norm = float(np.linalg.norm(b["direction"]))
        if norm == 0.0:
            raise DataError(f"{source}, line {b['line']}: bone {b['name']!r} has a zero direction")
        bones[b["name"]] = Bone(b["name"], b["direction"] / norm, b["length"], b["axis"] * to_deg,
                                b["axis_order"], b["dof"])
    unknown = [p for p in parent.values() if p != "root" and p not in bones]
    if unknown:
        raise DataError(f"{source}: the ':hierarchy' names an unknown bone {unknown[0]!r}")
    joints = _joints_from_root(bones, parent)
    missing = [name for name in bones if name not in joints]
    if missing:
        raise DataError(f"{source}: bone {missing[0]!r} is not connected to the root "
                        "in the ':hierarchy' section")
    order = fields["order"] or ("tx", "ty", "tz", "rx", "ry", "rz")
    return Skeleton(fields["name"], bones, {k: v for k, v in parent.items() if k in bones}, order,
                    fields["axis"], fields["position"], fields["orientation"] * to_deg,
                    fields["length"], fields["mass"], fields["angle"], tuple(joints), source)


def _joints_from_root(bones: dict[str, Bone], parent: dict[str, str]) -> list[str]:
    """"root" and the bones reachable from it, each after its parent (bones in file order)."""
    joints, placed = ["root"], {"root"}
    grew = True
    while grew:
        grew = False
        for name in bones:
            if name not in placed and parent.get(name) in placed:
                joints.append(name)
                placed.add(name)
                grew = True
    return joints
