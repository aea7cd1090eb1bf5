"""The reproductions' PNG figures (matplotlib, imported only when a report is drawn): tradeoff curves,
condition numbers per latent size, retrieval P@K beside the paper's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


# ------------------------------------------------------------------ static PNG figures for reports
# The reproduction's figures are PNG files (a report that opens anywhere), drawn with matplotlib's
# Agg backend: it installs offline, where plotly's static export needs kaleido and a browser.
def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _figure(ncols: int, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.2), squeeze=False)
    fig.suptitle(title)
    return fig, axes[0]


def tradeoff_png(rows: Sequence[dict], title: str) -> bytes:
    """MSE against VoR and against MCN (log x), one curve per method sorted by alpha (paper Figs. 1-3).

    A point with standard deviations over seeds (``mse_std``, ``vor_std``, ``mcn_std``) gets error bars both
    ways (Appendix E.7 draws the spread); a ``collapsed`` point is drawn grey, apart from its curve."""
    fig, axes = _figure(2, title)

    def finite(r: dict, key: str) -> bool:
        return math.isfinite(r.get(key) or math.nan) and math.isfinite(r.get("mse") or math.nan)

    for i, method in enumerate(sorted({r["method"] for r in rows})):
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r["alpha"])
        live = [r for r in pts if not r.get("collapsed")]
        for ax, key in zip(axes, ("vor", "mcn")):
            ok = [r for r in live if finite(r, key)]
            xerr = [r.get(f"{key}_std") or 0.0 for r in ok]
            yerr = [r.get("mse_std") or 0.0 for r in ok]
            bars = any(xerr) or any(yerr)
            ax.errorbar([r[key] for r in ok], [r["mse"] for r in ok], xerr=xerr if bars else None,
                        yerr=yerr if bars else None, fmt="o-" if len(ok) > 1 else "o", color=f"C{i}",
                        capsize=2, elinewidth=0.8, label=method)
            grey = [r for r in pts if r.get("collapsed") and finite(r, key)]
            if grey:
                ax.plot([r[key] for r in grey], [r["mse"] for r in grey], "x", color="0.6",
                        label=f"{method} collapsed" if key == "vor" else None)
    for ax, key in zip(axes, ("VoR", "MCN")):
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} (lower is more isometric)")
        ax.set_ylabel("test MSE")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _png(fig)


def condition_numbers_png(rows: Sequence[dict], paper: dict[int, dict[str, tuple[float, float]]], title: str) -> bytes:
    """Mean condition number (error bar: std) against latent size, ours and the paper's Table 3 (log y)."""
    fig, (ax,) = _figure(1, title)
    dims = sorted(paper)
    for method, color in (("VAE", "tab:red"), ("IRVAE", "tab:blue")):
        ours = sorted((r["latent_dim"], r["cond_mean"], r["cond_std"]) for r in rows if r["method"] == method)
        if ours:
            ax.errorbar([o[0] for o in ours], [o[1] for o in ours], yerr=[o[2] for o in ours], fmt="o-",
                        color=color, capsize=3, label=f"{method} (ours)")
        ax.plot(dims, [paper[m][method][0] for m in dims], "s--", color=color, alpha=0.5, label=f"{method} (paper)")
    ax.set_yscale("log")
    ax.set_xticks(dims)
    ax.set_xlabel("latent size m")
    ax.set_ylabel("condition number of G on encoded test data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def retrieval_png(ours: dict[str, Sequence[float]], paper: dict[str, Sequence[float]], title: str) -> bytes:
    """SAR and DAR P@1/5/10/20 per method: ours (solid) beside the paper's Table 1 (dashed)."""
    fig, axes = _figure(2, title)
    ks = [1, 5, 10, 20]
    for i, method in enumerate(sorted(ours)):
        color = f"C{i}"
        for ax, part in zip(axes, (slice(0, 4), slice(4, 8))):
            ax.plot(ks, list(ours[method])[part], "o-", color=color, label=f"{method} (ours)")
            if method in paper:
                ax.plot(ks, list(paper[method])[part], "s--", color=color, alpha=0.5, label=f"{method} (paper)")
    for ax, name in zip(axes, ("single attribute (SAR)", "double attribute (DAR)")):
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("K")
        ax.set_ylabel(f"P@K, %: {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)
