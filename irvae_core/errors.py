"""The error types shared across the core's packages (a leaf: it imports nothing of ours).

``DataError`` is raised by the dataset loaders (``irvae_core.data``) and by the mocap file parsers
(``irvae_core.mocap``), which the loaders use: kept here, neither package needs the other's import
order to get it.
"""

from __future__ import annotations


class DataError(Exception):
    """A dataset could not be loaded; the message names the file and what was expected."""
