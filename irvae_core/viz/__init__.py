"""Plotly figure builders by topic (no streamlit here: every figure is testable as data): the latent plane
(``latent``), runs and tradeoffs (``runs``), latent paths (``paths``), face retrieval (``retrieval``), skeletons
(``skeleton``); the reproductions' PNG figures (``reports``, matplotlib) are imported on their own.

The package re-exports the plotly builders, so a page draws with ``viz.latent_figure(...)``.
"""

from irvae_core.viz.latent import (  # noqa: F401
    CLASS_COLORS,
    COLOR_LEVELS,
    COND_COLORSCALE,
    ELLIPSE_FRACTION,
    ELLIPSE_POINTS,
    FILL_ALPHA,
    MIN_COND_TOP,
    color_levels,
    color_range,
    cond_position,
    ellipse_axes,
    ellipse_polyline,
    ellipse_scale,
    latent_figure,
    level_color,
    selected_example,
)
from irvae_core.viz.paths import (  # noqa: F401
    PATH_COLORS,
    add_latent_paths,
    image_grid,
    image_strip,
    modulation_figure,
    speed_figure,
    vector_path_figure,
)
from irvae_core.viz.retrieval import (  # noqa: F401
    captioned_images,
    retrieval_grid,
)
from irvae_core.viz.runs import (  # noqa: F401
    tradeoff_figure,
    training_curves,
    vector_figure,
)
from irvae_core.viz.skeleton import (  # noqa: F401
    CAMERA,
    FLOOR_COLOR,
    FLOOR_LINES,
    SKELETON_COLORS,
    add_latent_walk,
    joint_speed_figure,
    skeleton_animation,
    skeleton_figure,
)
