"""ASF / AMC parsing and forward kinematics on small hand-written files with known answers."""

import math

import numpy as np
import pytest

from irvae_core.data import DataError
from irvae_core.mocap import (
    channels_from_features,
    feature_channels,
    features_from_channels,
    format_amc,
    forward_kinematics,
    parse_amc,
    parse_amc_text,
    parse_asf,
    parse_asf_text,
    pose_from_features,
    skeleton_edges,
)

TINY_ASF = """# a test skeleton
:version 1.10
:name tiny
:units
  mass 2.0
  length 1.0
  angle deg
:documentation
  three bones
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name hip
    direction 2 0 0
    length 2
    axis 0 0 0 XYZ
    dof rx ry rz
    limits (-180.0 180.0)
           (-180.0 180.0)
           (-inf inf)
  end
  begin
    id 2
    name knee
    direction 1 0 0
    length 3
    axis 0 0 90 XYZ
    dof rx
  end
  begin
    id 3
    name lclavicle
    direction 0 1 0
    length 1
    axis 0 0 0 XYZ
    dof ry rz
  end
:hierarchy
  begin
    root hip lclavicle
    hip knee
  end
"""

INCH = 0.0254


def amc(frames: list[str], newline: str = "\n") -> str:
    head = ["#!OML:ASF tiny.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    return newline.join(head + frames) + newline


@pytest.fixture
def tiny():
    return parse_asf_text(TINY_ASF, source="tiny.asf")


def test_asf_fields(tiny):
    assert list(tiny.bones) == ["hip", "knee", "lclavicle"]
    assert tiny.joint_names == ("root", "hip", "knee", "lclavicle")
    assert tiny.parent == {"hip": "root", "knee": "hip", "lclavicle": "root"}
    assert tiny.mass_unit == 2.0 and tiny.length_unit == 1.0
    np.testing.assert_allclose(tiny.bones["hip"].direction, [1, 0, 0])  # normalised
    assert tiny.bones["knee"].dof == ("rx",) and tiny.bones["knee"].axis_order == "XYZ"
    assert len(tiny.channels) == 6 + 3 + 1 + 2
    assert feature_channels(tiny) == [("hip", "rx"), ("hip", "ry"), ("hip", "rz"), ("knee", "rx")]
    assert skeleton_edges(tiny) == [(0, 1), (1, 2), (0, 3)]


def test_asf_units_radians_and_length(tmp_path):
    text = TINY_ASF.replace("length 1.0\n  angle deg", "length 0.45\n  angle rad").replace(
        "axis 0 0 90 XYZ", f"axis 0 0 {math.pi / 2} XYZ")
    path = tmp_path / "01.asf"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    skel = parse_asf(path)
    assert skel.angle_unit == "rad"
    np.testing.assert_allclose(skel.bones["knee"].axis, [0, 0, 90])
    assert skel.metres_per_unit == pytest.approx(INCH / 0.45)


def test_amc_crlf_lf_comments_same_values(tiny, tmp_path):
    frames = ["1", "root 1 2 3 0 0 0", "hip 0 0 90", "# a comment line", "knee 90  # trailing comment",
              "lclavicle 5 6", "2", "root 0 0 0 0 0 0", "lclavicle 1 1", "knee -10", "hip 1 2 3"]
    (tmp_path / "01_01.amc").write_bytes(amc(frames, "\r\n").encode())
    crlf = parse_amc(tmp_path / "01_01.amc", tiny)
    lf = parse_amc_text(amc(frames), tiny)
    np.testing.assert_array_equal(crlf.channels, lf.channels)
    assert crlf.name == "01_01" and crlf.channels.shape == (2, 12)
    np.testing.assert_array_equal(crlf.channels[1], [0, 0, 0, 0, 0, 0, 1, 2, 3, -10, 1, 1])


def test_amc_radians_converted(tiny):
    text = amc(["1", f"root 1 2 3 0 {math.pi / 2} 0", "hip 0 0 0", "knee 0", "lclavicle 0 0"]).replace(
        ":DEGREES", ":RADIANS")
    ch = parse_amc_text(text, tiny).channels[0]
    assert ch[4] == pytest.approx(90.0) and ch[0] == 1.0  # translation untouched


@pytest.mark.parametrize("line, words", [
    ("knee 1 2", ["line 6", "knee", "needs 1 values (rx)", "got 2"]),
    ("hip 1 2", ["line 6", "hip", "needs 3 values", "got 2"]),
    ("elbow 1", ["line 6", "elbow", "not in the skeleton"]),
    ("knee one", ["line 6", "expected 1 numbers"]),
])
def test_amc_bad_line_names_file_and_line(tiny, tmp_path, line, words):
    path = tmp_path / "01_02.amc"
    path.write_text(amc(["1", "root 0 0 0 0 0 0", line, "hip 0 0 0", "knee 0", "lclavicle 0 0"]))
    with pytest.raises(DataError) as err:
        parse_amc(path, tiny)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_amc_regular_body_at_once_equals_line_by_line_on_the_shipped_cmu_trials():
    from irvae_core.data.cmu import SAMPLE_DIR, SAMPLE_TRIALS
    from irvae_core.mocap import amc as amc_module

    for trial in SAMPLE_TRIALS:
        skel = parse_asf(SAMPLE_DIR / f"{trial.split('_')[0]}.asf")
        text = (SAMPLE_DIR / f"{trial}.amc").read_text(encoding="latin-1")
        lines = text.splitlines()
        first = next(i for i, line in enumerate(lines) if line.strip().isdigit())
        slots, needed = amc_module._slots(skel), set(skel.bones) | {"root"}
        needed = {b for b in needed if slots[b][1] > 0}
        assert amc_module._regular_frames(lines[first:], slots, needed, len(skel.channels)) is not None  # at once
        fast = parse_amc_text(text, skel)
        np.testing.assert_array_equal(fast.channels, amc_module._parse_lines(text, skel, "<amc>", "").channels)


def test_amc_irregular_bodies_fall_back_to_the_line_by_line_parse(tiny):
    regular = ["1", "root 1 2 3 0 0 0", "hip 0 0 90", "knee 90", "lclavicle 5 6",
               "2", "root 0 0 0 0 0 0", "hip 1 2 3", "knee -10", "lclavicle 1 1"]
    want = parse_amc_text(amc(regular), tiny).channels
    np.testing.assert_array_equal(want[1], [0, 0, 0, 0, 0, 0, 1, 2, 3, -10, 1, 1])
    swapped = regular[:7] + ["knee -10", "hip 1 2 3"] + regular[9:]  # bones in another order in frame 2
    spaced = regular[:2] + ["hip 0  0 90"] + regular[3:]  # two spaces
    for body in (swapped, spaced):
        np.testing.assert_array_equal(parse_amc_text(amc(body), tiny).channels, want)
    with pytest.raises(DataError, match="line 12: expected 1 numbers for bone 'knee'"):  # a bad value in frame 2
        parse_amc_text(amc(regular[:8] + ["knee x"] + regular[9:]), tiny)
    with pytest.raises(DataError, match="line 12: bone 'knee' needs 1 values"):
        parse_amc_text(amc(regular[:8] + ["knee 1 2"] + regular[9:]), tiny)


def test_amc_missing_bone_and_empty(tiny, tmp_path):
    with pytest.raises(DataError, match="no values for bone 'knee'"):
        parse_amc_text(amc(["1", "root 0 0 0 0 0 0", "hip 0 0 0", "lclavicle 0 0"]), tiny, source="m.amc")
    with pytest.raises(DataError, match="m.amc: expected an AMC motion with at least one frame"):
        parse_amc_text(amc([]), tiny, source="m.amc")
    with pytest.raises(DataError, match=r"x\.amc: cannot read"):
        parse_amc(tmp_path / "x.amc", tiny)


def test_asf_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"bad\.asf, line 19: expected 3 numbers for a bone direction"):
        parse_asf_text(TINY_ASF.replace("direction 2 0 0", "direction 2 0"), source="bad.asf")
    with pytest.raises(DataError, match=r"bad\.asf: bone 'knee' is not connected to the root"):
        parse_asf_text(TINY_ASF.replace("    hip knee\n", ""), source="bad.asf")
    with pytest.raises(DataError, match="no bones"):
        parse_asf_text(":version 1.10\n", source="bad.asf")


def test_fk_rest_pose(tiny):
    pos = forward_kinematics(tiny, np.array([1.0, 2, 3] + [0] * 9))
    expected = np.array([[1, 2, 3], [3, 2, 3], [6, 2, 3], [1, 3, 3]]) * INCH
    np.testing.assert_allclose(pos, expected, atol=1e-12)


def test_fk_rotation_rules(tiny):
    # root RX then RZ (order TX TY TZ RX RY RZ): M = Rz(90) Rx(90) maps +x to +y
    pos = forward_kinematics(tiny, np.array([0, 0, 0, 90, 0, 90] + [0] * 6))
    np.testing.assert_allclose(pos[1] - pos[0], [0, 2 * INCH, 0], atol=1e-12)
    # knee axis (0 0 90): L = C Rx(90) C^-1 is a 90-degree turn about world y: +x -> -z
    pos = forward_kinematics(tiny, np.array([0] * 9 + [90, 0, 0]))
    np.testing.assert_allclose(pos[2] - pos[1], [0, 0, -3 * INCH], atol=1e-12)
    # the child inherits the parent's rotation: hip rz 90 turns the knee segment to +y too
    pos = forward_kinematics(tiny, np.array([0] * 8 + [90, 0, 0, 0]))
    np.testing.assert_allclose(pos[2] - pos[1], [0, 3 * INCH, 0], atol=1e-12)


CHAIN_ASF = """:version 1.10
:name chain
:units
  mass 1.0
  length 1.0
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name upper
    direction 1 0 0
    length 2
    axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
    id 2
    name lower
    direction 0 0 1
    length 1
    axis 90 0 0 XYZ
    dof rz
  end
:hierarchy
  begin
    root upper
    upper lower
  end
"""


def test_fk_two_bone_chain_with_non_commuting_rotations_by_hand():
    skel = parse_asf_text(CHAIN_ASF, source="chain.asf")
    # root at (1, 2, 3) turned by Rx(90); upper bone rz 90; lower bone rz 90 about its axis C = Rx(90)
    rx90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=float)
    rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    local_lower = rx90 @ rz90 @ rx90.T  # C M C^-1: a -90 degree turn about world y
    np.testing.assert_allclose(local_lower, [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-15)
    # global rotations compose parent first: R_upper = Rx90 Rz90, R_lower = R_upper L_lower
    # upper end: (1,2,3) + Rx90 Rz90 (2,0,0) = (1,2,3) + Rx90 (0,2,0) = (1,2,5)
    # lower end: (1,2,5) + Rx90 Rz90 L (0,0,1) = (1,2,5) + Rx90 Rz90 (-1,0,0) = (1,2,5) + (0,0,-1)
    pos = forward_kinematics(skel, np.array([1.0, 2, 3, 90, 0, 0, 0, 0, 90, 90]))
    np.testing.assert_allclose(pos, np.array([[1, 2, 3], [1, 2, 5], [1, 2, 4]]) * INCH, atol=1e-12)


def test_fk_batched_and_features(tiny):
    rng = np.random.default_rng(0)
    channels = rng.uniform(-170, 170, (4, 5, 12))
    pos = forward_kinematics(tiny, channels)
    assert pos.shape == (4, 5, 4, 3)
    np.testing.assert_allclose(pos[2, 3], forward_kinematics(tiny, channels[2, 3]))
    f = features_from_channels(tiny, channels)
    assert f.shape == (4, 5, 4) and f.dtype == np.float32 and np.abs(f).max() <= 1
    back = channels_from_features(tiny, f)
    assert np.all(back[..., :6] == 0) and np.all(back[..., 10:] == 0)  # root and clavicle neutral
    np.testing.assert_array_equal(features_from_channels(tiny, back), f)
    assert pose_from_features(tiny, f).shape == (4, 5, 4, 3)


def test_features_wrap_angles(tiny):
    ch = np.zeros(12)
    ch[6:10] = [190.0, -180.0, 540.0, -90.0]
    expected = np.array([-170, 180, 180, -90]) / 180
    np.testing.assert_allclose(features_from_channels(tiny, ch), expected, atol=1e-7)


def test_format_amc_round_trip(tiny):
    ch = np.random.default_rng(1).normal(0, 50, (3, 12))
    np.testing.assert_array_equal(parse_amc_text(format_amc(tiny, ch), tiny).channels, ch)
