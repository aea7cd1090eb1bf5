"""Straight lines, geodesics and axis modulation: ``irvae_core.geometry.curves`` at its documented path."""

from irvae_core.geometry.curves import (  # noqa: F401
    CodeSpread,
    DecodedPath,
    Geodesic,
    GeodesicProgress,
    ModulationGrid,
    axis_modulation,
    code_spread,
    decode_path,
    geodesic,
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
    "CodeSpread",
    "code_spread",
    "ModulationGrid",
    "axis_modulation",
]
