"""Plant named bugs, one at a time, in a temporary copy of the project; the tests must catch each.

Run with ``./lab mutants`` (all), ``./lab mutants fk resume`` (mutants whose name contains a
word), ``./lab mutants --list``. Each mutant replaces one exact snippet of one file (it must
occur exactly once: tests/test_mutants.py checks the table against the code, so a refactor
cannot silently disable a mutant) and runs its targeted tests with ``-x -q``. A mutant is
*caught* when a test fails, *survived* when all pass; a survivor is a bug the suite lets
through. The unmutated targets run first (``--no-baseline`` skips that), so that a test that
fails anyway is not counted as a catch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = (".git", ".venv", "runs", "test-artifacts", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # path relative to the repository root
    original: str  # exact snippet, found exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest node ids or files, run with -x -q
    why: str  # the bug in plain words


def M(name: str, file: str, original: str, replacement: str, tests: str | tuple[str, ...], why: str) -> Mutant:
    return Mutant(name, file, original, replacement, (tests,) if isinstance(tests, str) else tests, why)


GEO, REG = "tests/test_geometry.py", "tests/test_regularizers.py"
LAT, APP = "tests/test_latent.py", "tests/test_app.py"
EVAL, RUNS = "tests/test_evaluation.py", "tests/test_runs.py"
RESUME = "tests/test_training.py::test_stop_and_resume_gives_the_uninterrupted_runs_checkpoints_and_metrics"
CHECKPOINTS = "tests/test_training.py::test_checkpoints_load_weights_only_and_bad_ones_fail_clearly"
MOCAP, CMU = "tests/test_mocap_parsing.py", "tests/test_mocap_cmu_files.py"
DATA = "tests/test_data_torchvision.py"

MUTANTS: list[Mutant] = [
    # ---- the bugs of issue 19 (each passed the whole suite before it)
    M("geometry.cond_uses_second_eigenvalue", "irvae_core/geometry/metric.py",
      "lo, hi = lam[..., 0], lam[..., -1]", "lo, hi = lam[..., 0], lam[..., 1]", GEO,
      "condition numbers take the second eigenvalue (the largest only at m = 2)"),
    M("regularizers.mixup_ignores_eta", "irvae_core/geometry/regularizers.py",
      "d = torch.rand(k, 1, device=device, dtype=dtype, generator=generator) * (1 + 2 * eta) - eta",
      "d = torch.rand(k, 1, device=device, dtype=dtype, generator=generator)", REG,
      "mixup draws d ~ U[0, 1] instead of U[-eta, 1 + eta]"),
    M("regularizers.exact_gradient_halved", "irvae_core/geometry/handgrad.py",
      "coef = g * (4 * (g_a + g_r))", "coef = g * (2 * (g_a + g_r))", REG,
      "the exact metric's gradient through G J halved: same value, half the gradient"),
    M("kinematics.rotation_on_the_wrong_side", "irvae_core/mocap/kinematics.py",
      "rotations[name] = rotations[parent] @ local", "rotations[name] = local @ rotations[parent]", (MOCAP, CMU),
      "a bone's rotation composed on the wrong side of its parent's"),
    M("training.resume_forgets_best_val", "irvae_core/train/loop.py",
      'self.best_val = float(state["best_val"])', "self.best_val = math.inf", RESUME,
      "resume does not restore the best validation loss: best.pt is overwritten by a worse epoch"),
    M("pages.latent_shows_vor_as_mse", "app_pages/latent.py",
      """metric_col.metric("MSE", f"{ev['mse']:.3g}" if "mse" in ev""",
      """metric_col.metric("MSE", f"{ev['vor']:.3g}" if "mse" in ev""",
      "tests/test_app.py::test_latent_page_shows_exactly_the_numbers_of_evaluation_json",
      "the latent page shows VoR in the MSE slot"),
    M("pages.home_swaps_mcn_and_vor", "app_pages/home.py",
      "MCN {ev.get('mcn', float('nan')):.2f} · VoR {ev.get('vor', float('nan')):.3f}",
      "MCN {ev.get('vor', float('nan')):.2f} · VoR {ev.get('mcn', float('nan')):.3f}",
      "tests/test_app.py::test_home_shows_the_quick_start_side_by_side",
      "Home's MCN and VoR captions swapped"),
    M("latent.reconstruction_is_the_input", "irvae_core/views/latent.py",
      "return x, model.decode(model.encode(x.unsqueeze(0)))[0]", "return x, x", LAT,
      "input_and_reconstruction returns the input as its reconstruction"),
    # ---- geometry
    M("geometry.jacobian_tangents_paired_with_wrong_points", "irvae_core/geometry/metric.py",
      "basis.repeat_interleave(b, dim=0))", "basis.repeat(b, 1))", GEO,
      "the Jacobian pushes point k's tangents through other points"),
    M("geometry.one_pass_adds_the_bias_to_tangents", "models/networks.py",
      "y = torch.cat([rows, t.reshape(k * n, -1)]).mm(lin.weight.t())",
      "y = torch.cat([rows, t.reshape(k * n, -1)]).mm(lin.weight.t()) + lin.bias", "tests/test_fast_paths.py",
      "the one-pass Jacobian adds each layer's bias to the tangents as well"),
    M("speed.hand_one_pass_adds_the_bias_to_tangents", "models/fc_pass.py",
      "            if bias is not None:\n                pre.add_(bias)",
      "            if bias is not None:\n                y.add_(bias)", "tests/test_fast_paths.py",
      "the hand-differentiated one pass adds each layer's bias to the tangents as well"),
    M("speed.hand_one_pass_second_derivative_doubled", "models/fc_pass.py",
      "                g[b:r] += second", "                g[b:r] += 2 * second", "tests/test_fast_paths.py",
      "the one pass's reverse mode counts the activation's second derivative twice"),
    M("speed.hand_one_pass_grads_of_the_wrong_layer", "models/fc_pass.py",
      "if need[4 + 2 * i]:", "if need[3 + 2 * i]:", "tests/test_fast_paths.py",
      "a layer's weight gradient computed or dropped by its neighbour's requires_grad"),
    M("speed.small_jackknife_derivative_sign", "irvae_core/geometry/handgrad.py",
      "2 * c * (s3 - x)) for x in w3]", "2 * c * (s3 + x)) for x in w3]", "tests/test_fast_paths.py",
      "the jackknife F's derivative in Tr G adds the left-out point instead of removing it"),
    M("speed.metric_terms_anisotropy_gradient_unscaled", "irvae_core/geometry/handgrad.py",
      "(2 * g_t - 4 * g_r * t / m)", "(2 * g_t - 4 * g_r * t)", "tests/test_fast_paths.py",
      "the anisotropy's gradient forgets the 1/m of the trace's share"),
    M("speed.realnvp_jacobian_tanh_derivative", "models/realnvp.py",
      "ds = (1 - th * th) * dst[..., :c]", "ds = (1 - th) * dst[..., :c]", "tests/test_flattening.py",
      "the coupling's Jacobian differentiates tanh as 1 - tanh"),
    M("training.one_pass_metric_at_the_codes_not_the_mixup_points", "irvae_core/geometry/regularizers.py",
      "out, jt = self.one_pass(z, za, None)", "out, jt = self.one_pass(z, z[: len(za)], None)",
      "tests/test_fast_paths.py", "the training step's metric taken at the codes instead of their mixup"),
    M("geometry.vor_reference_is_first_metric", "irvae_core/geometry/metric.py",
      "riemannian_distances_sq(G, G.to(torch.float64).mean(0))", "riemannian_distances_sq(G, G.to(torch.float64)[0])",
      GEO, "VoR measured from the first metric instead of the mean metric"),
    M("geometry.distance_not_squared", "irvae_core/geometry/metric.py",
      "return (lam.log() ** 2).sum(-1)", "return lam.log().abs().sum(-1)", GEO,
      "affine-invariant distance without the square"),
    M("geometry.ellipse_major_axis_along_largest_eigenvalue", "irvae_core/geometry/metric.py",
      "major = U[:, 0]", "major = U[:, 1]", GEO, "ellipses drawn rotated by 90 degrees"),
    # ---- regularizers
    M("regularizers.relaxed_mean_of_ratios", "irvae_core/geometry/regularizers.py",
      "return m**2 * (r.mean(-1) + spread / m) / scale_sq", "return m**2 * r.mean(-1) / scale_sq", REG,
      "F without the spread of Tr G over the points (scale varying across points goes unpunished)"),
    M("regularizers.hutchinson_uniform_probes", "irvae_core/geometry/regularizers.py",
      "g = torch.randn(z.shape, dtype=z.dtype, device=z.device, generator=generator)",
      "g = torch.rand(z.shape, dtype=z.dtype, device=z.device, generator=generator)", REG,
      "Hutchinson probes not rotation invariant: biased"),
    M("regularizers.hutchinson_gradient_halved", "irvae_core/geometry/regularizers.py",
      "(v, jv.pow(2).sum(1), gv)", "(v, (jv * jv.detach()).sum(1), gv)", REG,
      "Hutchinson's Tr G with one factor detached: same value, wrong gradient"),
    M("regularizers.hutchinson_no_second_order_graph", "irvae_core/geometry/regularizers.py",
      "(gv,) = torch.autograd.grad(out, z, grad_outputs=jv, create_graph=graph)",
      "(gv,) = torch.autograd.grad(out, z, grad_outputs=jv.detach(), create_graph=graph)", REG,
      "the vjp's cotangent detached: Tr G^2 loses part of its gradient"),
    M("regularizers.mixup_pairs_each_point_with_itself", "irvae_core/geometry/regularizers.py",
      "j = torch.randperm(b, device=device, generator=generator)[:k]", "j = torch.arange(k, device=device)", REG,
      "mixup pairs every point with itself: no augmentation"),
    M("regularizers.log_h_scale_without_m", "irvae_core/geometry/regularizers.py",
      "c = lam.sum(-1).mean() / m", "c = lam.sum(-1).mean()", REG, "h = log measured against the wrong scale"),
    M("regularizers.isometry_cross_term", "irvae_core/geometry/regularizers.py",
      "return (r + (t - m * k).pow(2) / m).mean()", "return (r + (t - k).pow(2) / m).mean()",
      REG, "strict isometry with the wrong trace target (k instead of m k)"),
    # ---- training and resume
    M("training.iso_ignores_k", "irvae_core/train/trainer.py",
      "isometry_distortion(decoder, z, k=r.k,", "isometry_distortion(decoder, z, k=1.0,", REG,
      "the training loss ignores the configured isometry scale k"),
    M("training.alpha_not_applied", "irvae_core/train/trainer.py",
      "loss = loss + self.weight * reg", "loss = loss + reg",
      "tests/test_training.py::test_the_objective_is_the_reconstruction_loss_plus_alpha_times_the_regularizer",
      "the regularizer's weight alpha is ignored"),
    M("training.validation_on_train_split", "irvae_core/train/loop.py",
      "iterate_batches(self.data.val, self.settings.batch_size, None)",
      "iterate_batches(self.data.train, self.settings.batch_size, None)", RESUME,
      "validation loss computed on the training split"),
    M("training.best_saved_on_worse_epochs", "irvae_core/train/loop.py",
      'if val_loss < self.best_val:', 'if val_loss <= self.best_val or self.epoch > 1:', RESUME,
      "best.pt overwritten by every epoch after the first"),
    M("training.resume_rng_not_restored", "irvae_core/train/loop.py",
      'self.generator.set_state(state["generator"].cpu())', "pass", RESUME,
      "resume continues with a fresh random stream: not the uninterrupted run"),
    M("runs.truncate_drops_last_epoch", "irvae_core/store/runs.py",
      'if r.get("epoch", 0) <= after_epoch]', 'if r.get("epoch", 0) < after_epoch]', (RUNS, RESUME),
      "resume drops the metrics line of the checkpointed epoch"),
    M("runs.checkpoints_unpickled", "irvae_core/store/files.py",
      "weights_only=True)", "weights_only=False)", CHECKPOINTS,
      "checkpoints loaded with full pickle: tampered files run code"),
    M("runs.list_oldest_first", "irvae_core/store/runs.py",
      "reverse=True)", "reverse=False)", RUNS, "run listings oldest first"),
    # ---- evaluation, latent views, overview
    M("evaluation.mse_per_example_not_per_element", "irvae_core/train/encoding.py",
      "count += x.numel()", "count += len(x)", EVAL, "MSE summed over pixels instead of averaged"),
    M("evaluation.geometry_on_augmented_codes", "irvae_core/train/evaluation.py",
      "result.update(geometry_summary(pullback_metric(model.decode, z.to(device)).cpu()))",
      "result.update(geometry_summary(pullback_metric(model.decode, z_aug.to(device)).cpu()))", EVAL,
      "the encoded-data MCN/VoR measured on mixup points"),
    M("evaluation.uses_last_not_best", "irvae_core/train/evaluation.py",
      "model = load_model(run, device=where)", 'model = load_model(run, "last", device=where)', EVAL,
      "a run is evaluated at its last epoch, not its best"),
    M("flattening.composed_jacobian_columns_transposed", "irvae_core/geometry/metric.py",
      "jac.permute(2, 0, 1).reshape(k * b, -1)", "jac.permute(1, 0, 2).reshape(k * b, -1)",
      ("tests/test_flattening.py::test_sub_batch_runs_the_flow_on_the_mixup_rows_only_with_the_same_loss_and_gradient",
       "tests/test_geometry.py::test_composed_jacobian_equals_jacfwd_of_the_composition"),
      "the flattening module's fast Jacobian uses rows instead of columns"),
    M("latent.pca_plane_of_least_variance", "irvae_core/geometry/planes.py",
      "return origin, vt[:2].T.contiguous()", "return origin, vt[-2:].T.contiguous()", LAT,
      "the PCA plane spans the directions of least spread"),
    M("latent.plane_metric_ignores_the_plane", "irvae_core/geometry/planes.py",
      "jacobian(decoder, z[start:start + chunk].detach(), basis.T)",
      "jacobian(decoder, z[start:start + chunk].detach())[:2]", LAT,
      "the ellipses of a PCA or other plane drawn from the metric of the first two coordinates"),
    M("latent.ellipse_centres_not_their_points", "irvae_core/views/latent.py",
      "centers=xy[pick].numpy()", "centers=xy[:len(pick)].numpy()", LAT,
      "ellipses drawn at other points than the metric they show"),
    M("overview.run_row_swaps_vor_and_mcn", "irvae_core/store/summaries.py",
      '"vor": ev.get("vor"), "mcn": ev.get("mcn")})', '"vor": ev.get("mcn"), "mcn": ev.get("vor")})', (LAT, APP),
      "the runs table shows MCN as VoR and back"),
    M("overview.tradeoff_ignores_augmented", "irvae_core/store/summaries.py",
      'geo = ev if latent == "encoded" else ev.get("augmented", {})', "geo = ev", LAT,
      "the tradeoff page's 'augmented' choice shows the encoded numbers"),
    # ---- the run store's guarantees (issue 10)
    M("training.draws_from_the_global_rng", "irvae_core/train/trainer.py",
      "g = generator or self.generator", "g = generator", RESUME,
      "training noise from torch's global RNG: concurrent jobs and resumes draw other numbers"),
    M("training.checkpoint_before_metrics", "irvae_core/train/loop.py",
      "            self.run.log_metrics(record)\n            if val_loss < self.best_val:",
      "            if val_loss < self.best_val:",
      "tests/test_faults.py::test_sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint",
      "the epoch's metrics line is never written (as if last.pt went first and the process died)"),
    M("runs.lock_shared_not_exclusive", "irvae_core/store/lock.py",
      "if not _try_flock(fd, fcntl.LOCK_EX, attempts=5):", "if not _try_flock(fd, fcntl.LOCK_SH, attempts=5):",
      "tests/test_runs.py::test_the_run_lock_names_its_owner_and_the_os_frees_it_when_the_owner_dies",
      "two writers can lock one run"),
    # ---- mocap
    M("kinematics.axis_conjugated_the_wrong_way", "irvae_core/mocap/kinematics.py",
      "local = c @ _rotation_of(skeleton, name, columns[name]) @ c.T",
      "local = c.T @ _rotation_of(skeleton, name, columns[name]) @ c", (MOCAP, CMU),
      "a bone's axis applied as C^-1 M C instead of C M C^-1"),
    M("kinematics.euler_angles_intrinsic", "irvae_core/mocap/kinematics.py",
      "out = _axis_rotation(axis, degrees[..., i]) @ out", "out = out @ _axis_rotation(axis, degrees[..., i])",
      (MOCAP, CMU), "Euler angles composed in the reverse order"),
    M("asf.length_unit_multiplied", "irvae_core/mocap/asf.py",
      "return INCH_IN_METRES / self.length_unit", "return INCH_IN_METRES * self.length_unit", (MOCAP, CMU),
      "bone lengths scaled by the ASF length unit the wrong way"),
    M("features.wrap_sends_180_to_minus_180", "irvae_core/mocap/features.py",
      "wrapped = 180.0 - np.mod(180.0 - a, 360.0)", "wrapped = np.mod(a + 180.0, 360.0) - 180.0", (MOCAP, CMU),
      "angles wrapped to [-180, 180) instead of (-180, 180]"),
    M("features.right_fingers_kept", "irvae_core/mocap/features.py",
      'DROPPED_BONES = ("root", "lclavicle", "rclavicle", "lfingers", "rfingers")',
      'DROPPED_BONES = ("root", "lclavicle", "rclavicle", "lfingers")', (CMU, "tests/test_data_cmu.py"),
      "51 features: the right fingers kept"),
    # ---- data splits
    M("data.splits_overlap", "irvae_core/data/registry.py",
      "        start += n\n    return out", "    return out",
      (DATA, "tests/test_data_cmu.py", "tests/test_data_synthetic.py"),
      "train, validation and test splits are the same examples"),
    M("data.split_ignores_seed", "irvae_core/data/registry.py",
      "g = torch.Generator().manual_seed(seed)", "g = torch.Generator().manual_seed(0)",
      (DATA, "tests/test_data_cmu.py"), "every seed gives the same split"),
    # ---- the latent page's interactions and snapshots (issue 26)
    M("latent.lift_ignores_the_mean_code", "irvae_core/views/latent.py",
      "return (mean + (xy - offset) @ basis.T).astype(np.float32)",
      "return (self.origin + xy @ basis.T).astype(np.float32)", LAT,
      "a clicked plane point decodes with the rest of its code zero instead of the mean test code's"),
    M("latent.test_point_click_decoded_as_a_plane_point", "irvae_core/viz/latent.py",
      'if trace is None or _role(trace) != "grid" or point.get("x") is None or point.get("y") is None:',
      'if trace is None or point.get("x") is None or point.get("y") is None:', LAT,
      "a click on a test point decodes the plane there instead of showing the example"),
    M("snapshots.metric_of_the_wrong_plane", "irvae_core/train/snapshots.py",
      "metrics = plane_metric(model.decode, z, basis.to(z.device)).double().cpu()",
      "metrics = plane_metric(model.decode, z, basis.to(z.device).flip(1)).double().cpu()",
      "tests/test_snapshots.py", "a snapshot's ellipses measured along the plane's axes swapped"),
]


def copy_project(dest: Path) -> None:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)


def apply(mutant: Mutant, repo: Path) -> None:
    path = repo / mutant.file
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise ValueError(f"{mutant.name}: the snippet occurs {count} times in {mutant.file} (update tools/mutants.py)")
    path.write_text(text.replace(mutant.original, mutant.replacement))


def pytest_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    shared = ROOT.parent / "shared" / "data"
    if "IRVAE_SHARED_DATA" not in env and shared.is_dir():  # the copy lives elsewhere: point at the real data
        env["IRVAE_SHARED_DATA"] = str(shared)
    return env


def run_tests(repo: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """('caught' | 'survived' | 'error' | 'timeout', seconds, the failing test or the output's last lines)."""
    # one process (-n 0): under pytest-xdist (pyproject's -n auto) -x ends the run as "interrupted", exit 2, which
    # read as an error instead of a caught bug; the mutants themselves run in parallel (--jobs)
    cmd = [sys.executable, "-m", "pytest", "-n", "0", "-x", "-q", "-rf", "-p", "no:cacheprovider", *tests]
    t0 = time.time()
    try:
        r = subprocess.run(cmd, cwd=repo, env=pytest_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - t0, ""
    lines = (r.stdout + r.stderr).strip().splitlines()
    outcome = {0: "survived", 1: "caught"}.get(r.returncode, "error")
    failed = [line.split(" - ")[0].removeprefix("FAILED ") for line in lines if line.startswith("FAILED ")]
    detail = failed[0] if outcome == "caught" and failed else "\n".join(lines[-3:])
    return outcome, time.time() - t0, detail


def run_mutant(mutant: Mutant, timeout: float) -> tuple[Mutant, str, float, str]:
    with tempfile.TemporaryDirectory(prefix="irvae-mutant-") as tmp:
        repo = Path(tmp) / "repo"
        copy_project(repo)
        apply(mutant, repo)
        outcome, seconds, tail = run_tests(repo, mutant.tests, timeout)
    return mutant, outcome, seconds, tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./lab mutants", description="Plant named bugs in a temporary copy of the "
                                "project, one at a time, and report which ones the tests catch.")
    p.add_argument("names", nargs="*", help="run only mutants whose name contains one of these words")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--jobs", "-j", type=int, default=1, help="mutants run at once (default 1)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per mutant before it counts as timeout")
    p.add_argument("--no-baseline", action="store_true", help="skip running the unmutated targets first")
    a = p.parse_args(argv)
    chosen = [m for m in MUTANTS if not a.names or any(w in m.name for w in a.names)]
    if not chosen:
        print(f"no mutant matches {' '.join(a.names)}; see ./lab mutants --list", file=sys.stderr)
        return 2
    if a.list:
        for m in chosen:
            print(f"{m.name:55s} {m.file}: {m.why}")
        return 0
    if a.jobs < 1:
        p.error("--jobs must be >= 1")
    if not a.no_baseline:
        targets = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        print(f"baseline: the {len(targets)} targets (test files or tests), unmutated ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="irvae-mutant-") as tmp:
            copy_project(Path(tmp) / "repo")
            outcome, seconds, tail = run_tests(Path(tmp) / "repo", targets, a.timeout * 2)
        if outcome != "survived":
            print(f"the unmutated tests do not pass ({outcome}); fix them first:\n{tail}", file=sys.stderr)
            return 1
        print(f"baseline passes ({seconds:.0f} s)", flush=True)
    results = []
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for mutant, outcome, seconds, tail in pool.map(lambda m: run_mutant(m, a.timeout), chosen):
            results.append((mutant, outcome))
            print(f"{outcome.upper():9s} {mutant.name:55s} {seconds:5.0f} s  ({mutant.why})", flush=True)
            if outcome != "timeout":
                print("          " + ("by " if outcome == "caught" else "") + tail.replace("\n", "\n          "),
                      flush=True)
    counts = {k: sum(1 for _, o in results if o == k) for k in ("caught", "survived", "error", "timeout")}
    print(f"\n{counts['caught']} of {len(results)} mutants caught; survived: {counts['survived']}, "
          f"errors: {counts['error']}, timeouts: {counts['timeout']}")
    for mutant, outcome in results:
        if outcome != "caught":
            print(f"  {outcome}: {mutant.name} ({mutant.file}: {mutant.why})")
    return 0 if counts["caught"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
