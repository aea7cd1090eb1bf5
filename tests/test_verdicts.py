"""Verdicts with their uncertainty, on hand-built points: three words, the collapse rule, points over seeds, the
tradeoff claims, the pilot's grid rule and the plans' seeds."""

from __future__ import annotations

import pytest

from irvae_core.experiments.reproduce import folder_name
from irvae_core.experiments.reproduce.pilot import choose_grid
from irvae_core.experiments.reproduce.plan import ReproductionError, plan
from irvae_core.experiments.reproduce.report import collapse_claim, tradeoff_claims
from irvae_core.experiments.reproduce.verdicts import (
    FAILS,
    HOLDS,
    UNDECIDED,
    aggregate,
    below_curve,
    below_value,
    every,
    is_collapsed,
    less,
    lower_paired,
    majority,
)


def point(method="IRVAE", mse=1.0, vor=1.0, mcn=1.0, alpha=1.0, n=3, spread=0.0, **stds):
    """A point over n seeds: means, and every quantity's std ``spread`` unless given (``vor_std=...``)."""
    p = {"method": method, "alpha": alpha, "k": 1.0, "latent_dim": 2, "n": n, "seeds": list(range(n)),
         "collapsed": False, "collapsed_runs": [], "key": f"{method}-{alpha}", "mse": mse, "vor": vor, "mcn": mcn}
    for q in ("mse", "vor", "mcn"):
        p[f"{q}_std"] = stds.get(f"{q}_std", spread)
    return p


def test_less_holds_only_beyond_the_spread_and_is_undecided_within_it():
    low, high = point(vor=1.0, spread=0.1), point(vor=2.0, spread=0.1)
    assert less(low, high, "vor") == HOLDS  # gap 1.0 > spread 0.2
    assert less(high, low, "vor") == FAILS  # the reverse, as clear
    wide = point(vor=1.5, spread=0.45)
    assert less(low, wide, "vor") == UNDECIDED  # gap 0.5 < spread 0.55
    assert less(point(vor=1.0, spread=0.3), point(vor=1.5, spread=0.1), "vor") == HOLDS  # 0.5 > 0.4
    assert less(point(vor=1.0, n=1), point(vor=100.0, n=1), "vor") == UNDECIDED  # one seed: no spread to judge by
    assert less(point(mse=1.0, spread=0.01), point(mse=1.0, spread=0.01), "mse", scale_b=1.1) == HOLDS  # 1 < 1.1


def test_below_value_uses_mean_and_std():
    assert below_value(point(mcn=1.8, mcn_std=0.05), "mcn", 1.9) == HOLDS
    assert below_value(point(mcn=1.85, mcn_std=0.1), "mcn", 1.9) == UNDECIDED
    assert below_value(point(mcn=2.1, mcn_std=0.1), "mcn", 1.9) == FAILS
    assert below_value(point(mcn=1.0, n=1), "mcn", 1.9) == UNDECIDED


def test_majority_and_every_hold_only_whatever_the_undecided_turn_out_to_be():
    assert majority([HOLDS, HOLDS, UNDECIDED]) == HOLDS
    assert majority([HOLDS, UNDECIDED, UNDECIDED, FAILS]) == UNDECIDED  # 1 clear of 4; could reach 3
    assert majority([FAILS, FAILS, UNDECIDED]) == FAILS  # at most 1 of 3 could hold
    assert majority([HOLDS, HOLDS, FAILS, FAILS]) == FAILS  # 2 of 4 is no majority
    assert majority([]) == FAILS
    assert every([HOLDS, HOLDS]) == HOLDS and every([HOLDS, UNDECIDED]) == UNDECIDED
    assert every([HOLDS, FAILS, UNDECIDED]) == FAILS and every([]) == UNDECIDED


def test_below_curve_compares_with_the_rivals_of_equal_or_lower_mse():
    fmvae = [point("FMVAE", 1.0, 10.0, 5.0, spread=0.1), point("FMVAE", 2.0, 4.0, 3.0, spread=0.1),
             point("FMVAE", 3.0, 1.0, 1.5, spread=0.1)]
    assert below_curve(point("IRVAE", 2.0, 3.0, 2.0, spread=0.1), fmvae) == HOLDS  # beats both of MSE <= 2
    assert below_curve(point("IRVAE", 3.5, 2.0, 1.2, spread=0.1), fmvae) == FAILS  # FMVAE at MSE 3: lower VoR
    assert below_curve(point("IRVAE", 2.0, 3.0, 2.0, spread=0.95), fmvae) == UNDECIDED  # VoR 3 vs 4: within 1.05
    # better reconstruction than every FMVAE point: lower VoR and MCN than FMVAE's lowest-MSE point too holds (better
    # in every respect); a higher one is another place on a tradeoff, not a point below it: undecided, never fails
    assert below_curve(point("IRVAE", 0.5, 9.0, 4.0, spread=0.1), fmvae) == HOLDS
    assert below_curve(point("IRVAE", 0.5, 11.0, 4.0, spread=0.1), fmvae) == UNDECIDED
    assert below_curve(point("IRVAE", 0.5, 9.0, 6.0, spread=0.1), fmvae) == UNDECIDED
    assert below_curve(point("IRVAE", 0.5, 9.5, 4.0, spread=0.45), fmvae) == UNDECIDED  # VoR within the spread
    assert below_curve(point("IRVAE", 1.0, 1.0, 1.0), []) == UNDECIDED


def test_tradeoff_claims_with_spreads_and_an_unchanged_mse_for_the_flattening_module():
    s = 0.05
    points = [point("FMVAE", 1.0, 10.0, 5.0, 1.0, spread=s), point("FMVAE", 2.0, 4.0, 3.0, 10.0, spread=s),
              point("IRVAE", 1.0, 5.0, 2.0, 100.0, spread=s), point("IRVAE", 2.0, 5.0, 2.5, 1000.0, spread=s),
              point("IRVAE", 3.0, 1.0, 1.1, 1e4, spread=s),
              point("IRVAE+FM", 1.0, 4.0, 1.5, 100.0, spread=s),  # lower VoR and MCN, same MSE
              point("IRVAE+FM", 2.01, 4.0, 2.0, 1000.0, spread=s)]  # MSE moved by 0.5%: not unchanged
    below, fm = tradeoff_claims(points)
    assert below["verdict"] == HOLDS and below["count"] == "2 of 3 alphas hold, 1 do not, 0 undecided"
    assert fm["verdict"] == FAILS and fm["count"] == "1 of 2 IRVAE alphas hold, 1 do not, 0 undecided"
    points[-1]["mse"] = 2.0
    assert tradeoff_claims(points)[1]["verdict"] == HOLDS
    points[-1]["vor_std"] = 0.96  # VoR 4 ± 0.96 against 5 ± 0.05: within the spread
    assert tradeoff_claims(points)[1]["verdict"] == UNDECIDED
    collapsed = [dict(p, collapsed=True) if p["method"] == "IRVAE" and p["alpha"] == 1000.0 else p for p in points]
    assert tradeoff_claims(collapsed)[0]["count"] == "2 of 2 alphas hold, 0 do not, 0 undecided"  # not counted


def test_the_collapse_rule_and_points_over_seeds():
    assert is_collapsed(0.9, 1.0) and not is_collapsed(0.89, 1.0) and not is_collapsed(0.95, None)
    rows = [{"method": "IRVAE", "alpha": 10.0, "k": 1.0, "latent_dim": 2, "seed": s, "key": f"irvae-a10-s{s}",
             "run": f"r{s}", "mse": mse, "vor": vor, "mcn": 1.0 + s, "cond_mean": 1.0, "cond_std": 0.1}
            for s, mse, vor in ((0, 0.2, 1.0), (1, 0.4, 3.0), (2, 0.95, 99.0))]
    [p] = aggregate(rows, mean_mse=1.0)
    assert (p["n"], p["seeds"], p["collapsed_runs"], p["collapsed"]) == (2, [0, 1], ["r2"], False)
    assert p["mse"] == pytest.approx(0.3) and p["vor"] == pytest.approx(2.0) and p["vor_std"] == pytest.approx(2 ** 0.5)
    [gone] = aggregate([dict(r, mse=0.99) for r in rows], mean_mse=1.0)
    assert gone["collapsed"] and gone["n"] == 0 and len(gone["collapsed_runs"]) == 3
    for r, c in zip(rows, (False, False, True)):
        r["collapsed"] = c
    [check] = collapse_claim(rows, 1.0)
    assert check["verdict"] == FAILS and check["count"] == "2 of 3 runs reconstruct; collapsed: irvae-a10-s2"
    assert collapse_claim(rows[:2], 1.0)[0]["verdict"] == HOLDS and collapse_claim(rows, None) == []


def test_the_pilots_rule_spans_acting_to_the_largest_reconstructing_alpha():
    mean_mse = 0.1
    rows = [{"alpha": a, "mse": mse, "mcn": mcn} for a, mse, mcn in
            ((10, 0.03, 20.0), (100, 0.035, 8.0), (1000, 0.05, 2.0), (10000, 0.074, 1.3), (100000, 0.095, 1.1))]
    chosen = choose_grid(rows, vae_mcn=21.0, mean_mse=mean_mse)
    # top: the largest alpha at MSE <= 75% of 0.1 (10000); bottom: the first whose MCN <= 90% of the VAE's (100)
    assert chosen["top"] == 10000 and chosen["acting_from"] == 100
    assert chosen["grid"] == [100.0, 320.0, 1000.0, 3200.0, 10000.0]
    narrow = choose_grid(rows[:3], vae_mcn=21.0, mean_mse=mean_mse)  # top 1000: bottom at least 2 decades below
    assert narrow["grid"] == [10.0, 32.0, 100.0, 320.0, 1000.0]
    with pytest.raises(ValueError, match="no pilot alpha reconstructs"):
        choose_grid([{"alpha": 1, "mse": 0.09, "mcn": 1.0}], 21.0, mean_mse)


def test_plans_repeat_every_job_per_seed():
    quick = plan("mnist-tradeoff", "quick")
    assert quick.seeds == [0, 1, 2] and quick.latent == "augmented"
    keys = [j.key for j in quick.jobs]
    assert len(keys) == 3 * len(plan("mnist-tradeoff", "quick", seeds=1).jobs) and len(set(keys)) == len(keys)
    by = {j.key: j for j in quick.jobs}
    assert by["vae-s2"].cfg.train.seed == 2 and by["vae"].cfg.train.seed == 0
    fm = next(j for j in quick.jobs if j.fcfg is not None and j.key.endswith("-s1"))
    assert fm.flatten_of.endswith("-s1") and fm.fcfg.seed == 1
    assert plan("mnist-tradeoff", "tiny").seeds == [0] and plan("mnist-latent-dims", "tiny").latent == "encoded"
    with pytest.raises(ReproductionError, match="at least 1"):
        plan("mnist-tradeoff", "tiny", seeds=0)
    with pytest.raises(ReproductionError, match="goes with cmu-tradeoff"):
        plan("mnist-tradeoff", "tiny", cmu_split="trials")


def test_cmu_trial_split_plan_sets_the_loader_option_and_its_own_folder(tmp_path):
    p = plan("cmu-tradeoff", "quick", str(tmp_path), seeds=1, cmu_split="trials")
    assert p.jobs[0].cfg.data.options["split"] == "trials" and folder_name(p) == "cmu-tradeoff-trials"
    frames = plan("cmu-tradeoff", "quick", str(tmp_path), seeds=1)
    assert "split" not in frames.jobs[0].cfg.data.options and folder_name(frames) == "cmu-tradeoff"


def test_the_flattening_claim_pairs_each_flattened_run_with_its_own_base():
    # the base runs differ a lot between seeds (VoR 1, 2, 3); flattening lowers each by 0.1 +- 0.02
    assert lower_paired([0.9, 1.88, 2.91], [1.0, 2.0, 3.0]) == HOLDS
    assert lower_paired([1.1, 2.12, 3.09], [1.0, 2.0, 3.0]) == FAILS
    assert lower_paired([0.9, 2.1, 2.95], [1.0, 2.0, 3.0]) == UNDECIDED  # down, up, down: within the spread
    assert lower_paired([0.9], [1.0]) == UNDECIDED  # one pair: no spread
    rows = []
    for seed, (vor, mcn) in enumerate([(1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]):
        rows.append({"method": "IRVAE", "alpha": 10.0, "seed": seed, "mse": 1.0, "vor": vor, "mcn": mcn,
                     "run": f"ir-{seed}", "key": "irvae-a10"})
        rows.append({"method": "IRVAE+FM", "alpha": 10.0, "seed": seed, "mse": 1.0, "vor": vor - 0.1 - 0.01 * seed,
                     "mcn": mcn - 0.05, "run": f"fm-{seed}", "key": "irvae-a10-fm"})
    points = aggregate(rows)
    fm = tradeoff_claims(points, rows)[1]
    assert fm["verdict"] == HOLDS and fm["count"] == "1 of 1 IRVAE alphas hold, 0 do not, 0 undecided"
    # the same points unpaired: 1.89 +- 1 against 2 +- 1 is within the spread
    assert tradeoff_claims(points)[1]["verdict"] == UNDECIDED
    rows[-1]["mcn"] = 4.5  # one seed's MCN rose: no longer lower in every pair beyond the spread
    assert tradeoff_claims(aggregate(rows), rows)[1]["verdict"] == UNDECIDED
