"""The app's pages in Streamlit's AppTest: open a page, find a widget, read a plotly array."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(page: str, timeout: float = 180) -> AppTest:
    """The app started at / and switched to ``page`` (a path under app_pages/), with no exception."""
    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if page != "app_pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def widget(elements, label: str):
    return next(w for w in elements if w.label == label)


def array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)
