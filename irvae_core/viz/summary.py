"""A run's summary as one self-contained HTML file: what it is (its config), how it did (its evaluation on the test
split) and its main figures (training curves, the latent plane with equidistance ellipses), readable offline."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import plotly.graph_objects as go

from irvae_core.store.runs import Run
from irvae_core.store.summaries import method_name
from irvae_core.viz.runs import training_curves

SUMMARY_KEYS = ("mse", "vor", "mcn", "geo_spearman", "geo_ratio_cv", "trustworthiness", "knn_recall", "split", "n")


def _table(values: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def run_summary_html(run: Run, figures: Sequence[tuple[str, go.Figure]] = ()) -> str:
    """The run's summary page: its name and method, the headline evaluation numbers, the training curves, the
    ``figures`` given (title, figure) and the whole config.json and evaluation.json. plotly.js is inlined once, so
    the file opens without a network."""
    raw = run.raw_config()
    ev = run.evaluation() or {}
    suite = ev.get("distances") or {}
    headline = {k: ev.get(k, suite.get(k)) for k in SUMMARY_KEYS if ev.get(k, suite.get(k)) is not None}
    parts = [f"<h1>{html.escape(run.name)}</h1>",
             f"<p>{html.escape(method_name(raw))} · data {html.escape(str(raw.get('data', {}).get('name')))} · "
             f"latent size {html.escape(str(raw.get('model', {}).get('latent_dim')))}</p>",
             "<h2>Evaluation (test split)</h2>", _table(headline) if headline else "<p>Not evaluated.</p>"]
    shown = [("Training curves", training_curves(run.metrics()))] if run.metrics() else []
    for i, (title, fig) in enumerate([*shown, *figures]):
        parts += [f"<h2>{html.escape(title)}</h2>",
                  fig.to_html(full_html=False, include_plotlyjs=i == 0, default_height="520px")]
    parts += ["<h2>config.json</h2>", f"<pre>{html.escape(json.dumps(raw, indent=2))}</pre>",
              "<h2>evaluation.json</h2>", f"<pre>{html.escape(json.dumps(ev, indent=2, default=str))}</pre>"]
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}th{text-align:left;padding-right:1em}"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run.name)} · IRVAE Lab</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
