"""Straight lines, geodesics and axis modulation: ``irvae_core.geometry.curves`` at its documented path."""

from irvae_core.geometry.curves import (  # noqa: F401
    LENGTH_TOLERANCE,
    CodeSpread,
    DecodedPath,
    Geodesic,
    GeodesicProgress,
    Geodesics,
    ModulationGrid,
    axis_modulation,
    code_spread,
    decode_path,
    fine_points,
    geodesic,
    geodesics,
    interpolate,
    straight_line,
)

__all__ = [
    "GeodesicProgress",
    "DecodedPath",
    "Geodesic",
    "straight_line",
    "decode_path",
    "interpolate",
    "geodesic",
    "geodesics",
    "Geodesics",
    "fine_points",
    "LENGTH_TOLERANCE",
    "CodeSpread",
    "code_spread",
    "ModulationGrid",
    "axis_modulation",
]
