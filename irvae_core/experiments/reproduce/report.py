"""An experiment's results: rows read from its evaluated runs, points over seeds (``verdicts.aggregate``),
markdown tables beside the paper's numbers, PNG figures, and the paper's claims checked on our points, each
with one of three verdicts and the numbers behind it.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import torch

from irvae_core import paper
from irvae_core.config import RunConfig
from irvae_core.data import load_run_data
from irvae_core.experiments.reproduce.plan import EXPERIMENTS
from irvae_core.experiments.reproduce.verdicts import (
    FAILS,
    HOLDS,
    UNDECIDED,
    below_curve,
    below_value,
    counted,
    every,
    fmt,
    less,
    lower_paired,
    majority,
    mean_std_text,
)
from irvae_core.store.files import atomic_write_bytes, read_json
from irvae_core.store.runs import Run
from irvae_core.store.summaries import method_name

# Quick-mode target (MNIST test split, encoded test data): IRVAE MCN at m = 8 (the paper's Table 3: 1.87).
IRVAE_MCN_TARGET = {8: 1.9}

# Where geometry is read: "augmented" is P_Z (Section 5.1's, mixup of the encoded test data), "encoded" the
# encoded test data (Table 3's).
LATENT_WORDS = {"augmented": "on P_Z (mixup of the encoded test data, eta 0.2, as Section 5.1)",
                "encoded": "on the encoded test data (as Table 3)"}


# ------------------------------------------------------------------------------------ rows
def result_row(key: str, run: Run, latent: str = "augmented") -> dict[str, Any]:
    """One run's numbers: MSE on the test split, VoR / MCN / condition numbers on ``latent``, its seed."""
    raw, ev = run.raw_config(), run.evaluation() or {}
    geo = ev.get("encoded", ev) if latent == "encoded" else ev.get("augmented", {})
    base_raw = raw
    if raw.get("type") == "flatten":
        base_raw = read_json(Path(raw["base_run"]) / "config.json")
    return {"key": key, "method": method_name(raw), "alpha": float(base_raw.get("reg", {}).get("alpha") or 0.0),
            "latent_dim": raw.get("model", {}).get("latent_dim"), "k": base_raw.get("reg", {}).get("k"),
            "seed": int(base_raw.get("train", {}).get("seed") or 0), "latent": latent, "points": geo.get("points"),
            "mse": ev.get("mse"), "vor": geo.get("vor"), "mcn": geo.get("mcn"),
            "cond_mean": geo.get("cond_mean"), "cond_std": geo.get("cond_std"),
            "geo_spearman": (ev.get("distances") or {}).get("geo_spearman"),
            "geo_ratio_cv": (ev.get("distances") or {}).get("geo_ratio_cv"), "run": run.name}


def mean_example_mse(cfg: RunConfig) -> float | None:
    """Test MSE of predicting every test example by the mean training example: a model at this
    MSE reconstructs nothing (its geometry then says nothing either). None for a lazily loaded set."""
    data = load_run_data(cfg.data)
    train, test = getattr(data.train, "x", None), getattr(data.test, "x", None)
    if not isinstance(train, torch.Tensor) or not isinstance(test, torch.Tensor):
        return None
    return float((test.double() - train.double().mean(0)).pow(2).mean())


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]


def claim(text: str, verdict: str, count: str) -> dict[str, Any]:
    return {"claim": text, "verdict": verdict, "holds": verdict == HOLDS, "count": count}


def _seeds(point: dict[str, Any]) -> str:
    extra = f", {len(point['collapsed_runs'])} collapsed" if point["collapsed_runs"] else ""
    return f"{point['n']}{extra}"


def _alpha(point: dict[str, Any]) -> Any:
    return "-" if point["method"] == "VAE" else point["alpha"]


def points_table(points: list[dict[str, Any]]) -> list[str]:
    """Method, alpha, MSE / VoR / MCN and the distortion suite's geodesic agreement (Spearman, CV of the ratio) as
    mean ± std over seeds, the spread across seeds of latent and geodesic distances (``stability``), and the
    seeds counted (collapsed ones apart)."""
    return _table(["method", "alpha", "MSE", "VoR", "MCN", "geodesic Spearman", "geodesic/latent CV",
                   "CV across seeds: latent / geodesic", "seeds"],
                  [[p["method"] + (" (collapsed)" if p["collapsed"] else ""), _alpha(p),
                    *(mean_std_text(p, q) for q in ("mse", "vor", "mcn", "geo_spearman", "geo_ratio_cv")),
                    _stability(p), _seeds(p)] for p in points])


def _stability(point: dict[str, Any]) -> str:
    s = point.get("stability")
    if not s:
        return "-"
    return f"{fmt(s['latent_cv'])} / {fmt(s['geodesic_cv'])}" if "geodesic_cv" in s else fmt(s["latent_cv"])


def collapse_claim(rows: list[dict[str, Any]], mean_mse: float | None) -> list[dict[str, Any]]:
    """The grid's check: no run collapsed (test MSE >= 90% of the mean example's); the collapsed ones named."""
    if mean_mse is None:
        return []
    bad = [r["key"] for r in rows if r.get("collapsed")]
    return [claim(f"no run of the grid collapsed (test MSE at least 90% of the mean example's {fmt(mean_mse)})",
                  FAILS if bad else HOLDS,
                  f"{len(rows) - len(bad)} of {len(rows)} runs reconstruct" + (f"; collapsed: {', '.join(bad)}"
                                                                               if bad else ""))]


# ------------------------------------------------------------------------------------ tradeoff claims
def tradeoff_claims(points: list[dict[str, Any]], rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The paper's tradeoff claims (Section 5.1) on our points over seeds; collapsed points are not counted."""
    live = [p for p in points if not p["collapsed"]]
    ir = [p for p in live if p["method"] == "IRVAE"]
    fmvae = [p for p in live if p["method"] == "FMVAE"]
    below = [below_curve(p, fmvae) for p in ir]
    claims = [claim("IRVAE's points lie below FMVAE's (lower VoR and MCN at equal or lower MSE) for most alpha",
                    majority(below) if ir and fmvae else UNDECIDED, counted(below, "alphas"))]
    per_alpha = []
    for fm in (p for p in live if p["method"] == "IRVAE+FM"):
        base = next((q for q in ir if q["alpha"] == fm["alpha"]), None)
        if base is None:
            continue
        unchanged = _mse_unchanged(fm, base, rows)
        per_alpha.append(FAILS if not unchanged else every(_lower_than_base(fm, base, rows)))
    claims.append(claim("the flattening module lowers VoR and MCN with MSE unchanged (within 0.1%; each flattened "
                        "run against its own base)",
                        every(per_alpha), counted(per_alpha, "IRVAE alphas")))
    return claims


def _seed_pairs(fm: dict[str, Any], rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each flattened run of point ``fm`` with its own base run (same alpha and seed; None where it is missing)."""
    by = {(r["method"], r["alpha"], r["seed"]): r for r in rows}
    return [(by[("IRVAE+FM", fm["alpha"], s)], by.get(("IRVAE", fm["alpha"], s))) for s in fm["seeds"]]


def _lower_than_base(fm: dict[str, Any], base: dict[str, Any], rows: list[dict[str, Any]] | None) -> list[str]:
    """VoR and MCN of the flattened runs against their own base runs: paired by seed when the runs are known
    (``lower_paired``), else the points' means against their spreads (``less``)."""
    if rows is None:
        return [less(fm, base, "vor"), less(fm, base, "mcn")]
    pairs = [(f, b) for f, b in _seed_pairs(fm, rows) if b is not None]
    return [lower_paired([f[q] for f, _ in pairs], [b[q] for _, b in pairs]) for q in ("vor", "mcn")]


def _mse_unchanged(fm: dict[str, Any], base: dict[str, Any], rows: list[dict[str, Any]] | None) -> bool:
    """Each flattened run's test MSE within 0.1% of its own base run's (same seed), or the means' when no rows."""
    if rows is None:
        return abs(fm["mse"] - base["mse"]) <= 1e-6 + 1e-3 * base["mse"]
    return all(b is not None and abs(f["mse"] - b["mse"]) <= 1e-6 + 1e-3 * b["mse"] for f, b in _seed_pairs(fm, rows))


# ------------------------------------------------------------------------------------ tables and claims
def label_isometry(points: list[dict[str, Any]]) -> None:
    """Strict isometry's points named by their k ("ISOVAE k=10"): one curve per k in tables and figures."""
    for q in points:
        if q["method"] == "ISOVAE":
            q["method"] = f"ISOVAE k={q['k']:g}"


def isometry_claims(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Appendix E.6: IRVAE's points below strict isometry's, for each k."""
    live = [q for q in result["points"] if not q["collapsed"]]
    ir = [q for q in live if q["method"] == "IRVAE"]
    claims = []
    for k in result["settings"]["ks"]:
        iso = [q for q in live if q["method"] == f"ISOVAE k={k:g}"]
        below = [below_curve(q, iso) for q in ir]
        claims.append(claim(f"IRVAE's points lie below strict isometry's with k = {k:g} for most alpha",
                            majority(below) if ir and iso else UNDECIDED, counted(below, "alphas")))
    return claims


def _latent_pairs(result: dict[str, Any]) -> list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]]:
    by = {(q["method"], q["latent_dim"]): q for q in result["points"] if not q["collapsed"]}
    return [(m, by.get(("VAE", m)), by.get(("IRVAE", m))) for m in result["settings"]["latent_dims"]]


def latent_dims_lines(result: dict[str, Any]) -> list[str]:
    """Table 3 beside ours: condition numbers of VAE and IRVAE per latent size."""
    table = []
    for m, v, i in _latent_pairs(result):
        pv, pi = paper.TABLE3[m]["VAE"], paper.TABLE3[m]["IRVAE"]
        table.append([m, _cond(v), _cond(i), f"{fmt(pv[0])} ± {fmt(pv[1])}", f"{fmt(pi[0])} ± {fmt(pi[1])}",
                      i["alpha"] if i else "-", mean_std_text(v, "mse"), mean_std_text(i, "mse"),
                      f"{_seeds(v) if v else 0} / {_seeds(i) if i else 0}"])
    lines = _table(["m", "VAE cond (ours)", "IRVAE cond (ours)", "VAE (paper)", "IRVAE (paper)", "IRVAE alpha",
                    "VAE MSE", "IRVAE MSE", "seeds"], table)
    return lines + ["", "Ours: the mean condition number of a run (mean ± std over seeds), and after the slash the "
                        "spread of condition numbers within a run (mean over seeds); the paper's: mean ± std over "
                        "points."]


def latent_dims_claims(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 3's claims: IRVAE reconstructs at every size, reaches the target MCN, and far below VAE's above m = 2."""
    claims = []
    for m, v, i in _latent_pairs(result):
        pi = paper.TABLE3[m]["IRVAE"]
        recon = less(i, v, "mse", scale_b=1.1) if i and v else UNDECIDED
        claims.append(claim(f"IRVAE reconstructs at m = {m} (test MSE at most 1.1 x the VAE's)", recon,
                            f"{mean_std_text(i, 'mse')} vs 1.1 x {mean_std_text(v, 'mse')}" if i and v else "no run"))
        if m in IRVAE_MCN_TARGET:
            claims.append(claim(f"IRVAE MCN <= {IRVAE_MCN_TARGET[m]:g} at m = {m} (paper {fmt(pi[0])})",
                                below_value(i, "cond_mean", IRVAE_MCN_TARGET[m]) if i else UNDECIDED,
                                mean_std_text(i, "cond_mean")))
        if m != 2:
            ten = less(i, v, "cond_mean", scale_b=0.1) if i and v else UNDECIDED
            claims.append(claim(f"IRVAE's condition numbers far below VAE's at m = {m} (at least 10x)", ten,
                                f"{mean_std_text(i, 'cond_mean')} vs {mean_std_text(v, 'cond_mean')}"
                                if i and v else "no run"))
    return claims


def _cond(q: dict[str, Any] | None) -> str:
    return "-" if q is None else f"{mean_std_text(q, 'cond_mean')} / {fmt(q['cond_std'])}"


# ------------------------------------------------------------------------------------ retrieval
RETRIEVAL_KS = ("P@1", "P@5", "P@10", "P@20")


def retrieval_values(rows: list[dict[str, Any]], runs: dict[str, Run]) -> dict[str, list[list[float]]]:
    """Per method, each run's SAR then DAR P@1/5/10/20 in percent (``evaluate_retrieval``), one list a seed."""
    from irvae_core.retrieval.evaluation import evaluate_retrieval

    per_method: dict[str, list[list[float]]] = {}
    for r in rows:
        res = evaluate_retrieval(runs[r["key"]].path)
        per_method.setdefault(r["method"], []).append(
            [100 * res[kind]["mean"].get(k, math.nan) for kind in ("SAR", "DAR") for k in RETRIEVAL_KS])
    return per_method


def _retrieval_means(result: dict[str, Any]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    ours, spread = {}, {}
    for method, values in result["retrieval"].items():
        cols = list(zip(*values))
        ours[method] = [statistics.fmean(c) for c in cols]
        spread[method] = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols]
    return ours, spread


def retrieval_lines(result: dict[str, Any]) -> list[str]:
    """Table 1 beside ours (mean ± std over seeds), then the same runs' reconstruction and geometry."""
    ours, spread = _retrieval_means(result)
    table = []
    for method, values in result["retrieval"].items():
        n = len(values)
        table.append([f"{method} (ours, {n} seed{'s' * (n != 1)})",
                      *(f"{fmt(m)} ± {fmt(s)}" if n > 1 else m for m, s in zip(ours[method], spread[method]))])
        if paper.table1_row(method):
            table.append([f"{method} (paper)", *paper.table1_row(method)])
    lines = _table(["method", *(f"SAR {k}" for k in RETRIEVAL_KS), *(f"DAR {k}" for k in RETRIEVAL_KS)], table)
    lines += ["", "Reconstruction and geometry of the same runs (test split):", ""]
    return lines + points_table(result["points"])


def retrieval_claims(result: dict[str, Any]) -> list[dict[str, Any]]:
    claims = []
    for col, name in ((1, "SAR P@5"), (5, "DAR P@5")):
        vae, ir = (_retrieval_point(result["retrieval"].get(m), col) for m in ("VAE", "IRVAE"))
        verdict = less(vae, ir, "p") if vae and ir else UNDECIDED
        claims.append(claim(f"IRVAE retrieves better than VAE ({name})", verdict,
                            f"{mean_std_text(ir, 'p')} vs {mean_std_text(vae, 'p')}" if vae and ir else "no run"))
    return claims


def _retrieval_point(values: list[list[float]] | None, col: int) -> dict[str, Any] | None:
    if not values:
        return None
    c = [v[col] for v in values]
    return {"n": len(c), "p": statistics.fmean(c), "p_std": statistics.stdev(c) if len(c) > 1 else 0.0}


# ------------------------------------------------------------------------------------ the report
TRADEOFFS = ("mnist-tradeoff", "cmu-tradeoff", "isometry-vs-scaled")


def experiment_claims(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The paper's claims checked on an experiment's points (and runs), before the grid's collapse check."""
    name = result["experiment"]
    if name in ("mnist-tradeoff", "cmu-tradeoff"):
        return tradeoff_claims(result["points"], result["rows"])
    if name == "isometry-vs-scaled":
        return isometry_claims(result)
    return latent_dims_claims(result) if name == "mnist-latent-dims" else retrieval_claims(result)


def report_lines(result: dict[str, Any]) -> list[str]:
    """The experiment's tables in markdown, from its results alone."""
    name = result["experiment"]
    if name == "mnist-latent-dims":
        return latent_dims_lines(result)
    if name not in TRADEOFFS:
        return retrieval_lines(result)
    lines = points_table(result["points"])
    if name == "cmu-tradeoff":
        vae = next((q for q in result["points"] if q["method"] == "VAE"), None)
        lines += ["", "VAE beside the paper's (Section 5.1.2):", ""]
        lines += _table(["", "MSE", "VoR", "MCN"], [["paper", *paper.CMU_VAE.values()]] +
                        ([["ours", *(mean_std_text(vae, q) for q in ("mse", "vor", "mcn"))]] if vae else []))
    return lines


def write_figures(result: dict[str, Any], folder: Path) -> None:
    """The experiment's PNG figures into ``folder``: the tradeoff, Table 3's condition numbers, or retrieval P@K."""
    from irvae_core.viz.reports import condition_numbers_png, retrieval_png, tradeoff_png

    name, points, title = result["experiment"], result["points"], f"{result['experiment']} ({result['mode']})"
    if name in TRADEOFFS:
        atomic_write_bytes(folder / "tradeoff.png", tradeoff_png(points, title))
    elif name == "mnist-latent-dims":
        png = condition_numbers_png([q for q in points if not q["collapsed"]], paper.TABLE3, title)
        atomic_write_bytes(folder / "condition_numbers.png", png)
    else:
        theirs = {m: paper.table1_row(m) for m in ("VAE", "FMVAE", "IRVAE", "IRVAE+FM")}
        atomic_write_bytes(folder / "retrieval.png", retrieval_png(_retrieval_means(result)[0], theirs, title))


def render_markdown(result: dict[str, Any]) -> str:
    """results.md from results.json alone: the head, the tables, the claims with their verdicts, the figures."""
    n, mean_mse = len(result["seeds"]), result["mean_example_mse"]
    title = EXPERIMENTS[result["experiment"]][0]
    head = [f"# {result.get('name', result['experiment'])} ({result['mode']} mode)", "", title + ".", "",
            f"Command: `{result['command']}`  ", f"Data: {result['data']}  ",
            f"Each point: {n} seed{'s' * (n != 1)} (mean ± std over seeds); VoR and MCN "
            f"{LATENT_WORDS[result['latent']]}; MSE per element on the test split"
            + (f" (predicting the mean training example scores {fmt(mean_mse)}; a run at 90% of that or more is "
               "collapsed: marked, never counted for a claim)." if mean_mse else ".")]
    if result["mode"] == "tiny":
        sizes = sorted({r["points"] for r in result["rows"] if r.get("points")})
        head[-1] += ("  \nTiny mode checks the pipeline, it reproduces nothing: one epoch"
                     + (f", geometry on {' / '.join(f'{n:,}' for n in sizes)} points" if sizes else "") + ".")
    head.append("")
    checks = ["", "## The paper's claims on these points", "",
              "A claim holds when it holds for the means with a gap larger than the spread (the sum of the "
              "standard deviations over seeds), does not hold when the reverse is as clear, and is undecided "
              "otherwise (always with one seed).", ""] + [f"- {line}" for line in claim_lines(result)]
    if result["collapsed"]:
        checks += ["", f"Collapsed runs (drawn grey, not counted): {', '.join(result['collapsed'])}"]
    if result["missing"]:
        checks += ["", "Runs not finished (not trained yet, or failed: see their status.json): "
                       f"{', '.join(result['missing'])}"]
    figs = ["", *(f"![{f}]({f})" for f in result["figures"])]
    return "\n".join(head + report_lines(result) + checks + figs) + "\n"


def claim_lines(result: dict[str, Any]) -> list[str]:
    """One line per checked claim: its verdict (holds / does not hold / undecided), the claim, its numbers."""
    return [f"{c.get('verdict') or ('holds' if c['holds'] else 'does not hold')}: {c['claim']} ({c['count']})"
            for c in result["claims"]]
