"""The geometry of a decoder (paper Sections 3-4): the pullback metric and what is measured of it (``metric``),
the regularizers (``regularizers``), curves and geodesics (``curves``), planes through the latent space (``planes``).

The package re-exports ``metric``, so ``irvae_core.geometry.pullback_metric`` is the documented path.
"""

from irvae_core.geometry.metric import (  # noqa: F401
    DEFAULT_CHUNK_ELEMENTS,
    Composed,
    Decoder,
    Ellipse,
    condition_numbers,
    flat_decoder,
    jacobian,
    jvp,
    mean_condition_number,
    metric_ellipse,
    pullback_metric,
    restrict_metric,
    riemannian_distances_sq,
    variance_of_riemannian_metric,
)

__all__ = [
    "Decoder",
    "DEFAULT_CHUNK_ELEMENTS",
    "jvp",
    "Composed",
    "jacobian",
    "flat_decoder",
    "pullback_metric",
    "condition_numbers",
    "mean_condition_number",
    "riemannian_distances_sq",
    "variance_of_riemannian_metric",
    "Ellipse",
    "metric_ellipse",
    "restrict_metric",
]
