"""Streamlit helpers shared by the pages: the job manager, cached loaders, the live job panel."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from irvae_core.config import ConfigError, DataConfig
from irvae_core.data import DataError, DatasetSplits, load_run_data
from irvae_core.demo import DemoRefused, demo_mode
from irvae_core.experiments.jobs import Job, JobManager, get_manager
from irvae_core.geometry.curves import Geodesic
from irvae_core.geometry.planes import Plane
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import RunError
from irvae_core.store.runs import default_runs_dir, open_run
from irvae_core.store.summaries import sweep_progress
from irvae_core.train.snapshots import read_snapshots
from irvae_core.views.latent import Brush, LatentView, brush, run_view
from irvae_core.viz.latent import snapshot_figure
from irvae_core.viz.runs import training_curves

POLL_S = 1.5
EXPECTED_ERRORS = (RunError, DataError, ConfigError, ValueError, KeyError, DemoRefused)


def manager() -> JobManager:
    """The process-wide job manager of the current runs folder ($IRVAE_RUNS or ./runs)."""
    return get_manager(default_runs_dir())


@contextmanager
def friendly_errors(what: str = "") -> Iterator[None]:
    """Show an expected failure (bad run, data, config) as one sentence instead of a stack trace."""
    try:
        yield
    except EXPECTED_ERRORS as e:
        message = str(e).strip("'\"") or type(e).__name__
        st.error(f"{what}: {message}" if what else message)


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def cached_model(path: str, mtime: float | None):
    """A run's trained model (re-read when its checkpoint changes: ``mtime`` is the key)."""
    return load_model(open_run(path))


@dataclasses.dataclass
class SharedGeodesic:
    """One geodesic of one run, pair and point count, kept for every session of this server process."""

    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    geodesic: Geodesic | None = None

    def get(self, find: Callable[[], Geodesic], waiting: Callable[[], None], poll_s: float = 0.2) -> Geodesic:
        """The geodesic: ``find()``'s, called by the first caller only; a caller meanwhile waits for it, calling
        ``waiting()`` every ``poll_s`` (a Streamlit call there lets a rerun or a closed tab end the wait; a waiter
        holds nothing). A ``find`` that raises leaves the slot empty for the next caller to try."""
        if self.geodesic is None:
            while not self.lock.acquire(timeout=poll_s):
                waiting()
            try:
                if self.geodesic is None:
                    self.geodesic = find()
            finally:
                self.lock.release()
        return self.geodesic


@st.cache_resource(max_entries=16, show_spinner=False)
def shared_geodesic(path: str, mtime: float | None, i: int, j: int, n_points: int) -> SharedGeodesic:
    """The slot of the run's geodesic between test examples i and j, shared by every session (a classroom opening
    the same pair computes it once); a new checkpoint (``mtime``) is a new slot."""
    return SharedGeodesic()


@st.cache_resource(max_entries=4, show_spinner="Loading the data...")
def _cached_data(data_config: str) -> DatasetSplits:
    return load_run_data(DataConfig(**json.loads(data_config)))


def cached_data(path: str) -> DatasetSplits:
    """The dataset a run was trained on (one cache entry per data config, whichever run names it)."""
    return _cached_data(json.dumps(dataclasses.asdict(open_run(path).config().data), sort_keys=True))


@st.cache_data(max_entries=16, show_spinner="Encoding the test data and computing the metric...")
def cached_view(path: str, mtime: float | None, plane: Plane, n_ellipses: int) -> LatentView:
    """The latent view of a run, per checkpoint, plane and number of ellipses."""
    return run_view(open_run(path), cached_model(path, mtime), cached_data(path), plane=plane, n_ellipses=n_ellipses)


@st.cache_data(max_entries=16, show_spinner="Condition numbers of the selection...")
def cached_brush(path: str, mtime: float | None, plane: Plane, n_ellipses: int, test_index: tuple[int, ...]) -> Brush:
    """A brush's statistics on the cached view (``views.latent.brush``): computed once per selection, not on every
    rerun of the page while the selection stays."""
    return brush(cached_model(path, mtime).decode, cached_view(path, mtime, plane, n_ellipses), list(test_index))


# ------------------------------------------------------------------------------ views in the URL
def from_link(name: str, parse: Callable[[str], object], default: object) -> object:
    """A view's value from the page's URL (``?name=...``, a shared link), parsed; the default when absent, or, with
    one sentence, when the link's value does not parse or names what is not here (``parse`` raises ValueError)."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as e:
        st.warning(f"This link's {name}={raw} is not available here ({e}); showing the page's default instead.")
        return default


def seed(key: str, value: object) -> None:
    """A keyed widget's first value in this session (from the link, else the page's default): set once, before the
    widget is drawn, so the widget keeps what the visitor chooses after."""
    if key not in st.session_state:
        st.session_state[key] = value


def run_picker(key: str, label: str, paths: list[str], default: list[str], format_func: Callable[[str], str],
               limit: int = 2) -> list[str]:
    """A page's run multiselect (keyed ``key``), its first value from the link (``runs=NAME,NAME``) else ``default``."""
    seed(key, from_link("runs", link_runs(paths, limit), default))
    return st.multiselect(label, paths, max_selections=limit, key=key, format_func=format_func)


def publish_link(runs: list[str], **values: object) -> None:
    """The page's state in its URL, so that a copied link opens the same view: the runs by folder name, the rest as
    given (empty values left out)."""
    params = {"runs": ",".join(Path(p).name for p in runs),
              **{k: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for k, v in values.items()}}
    st.query_params.from_dict({k: v for k, v in params.items() if v not in ("", "None")})


def link_runs(paths: list[str], limit: int) -> Callable[[str], list[str]]:
    """A parser of ``runs=NAME,NAME`` (run folder names) into paths among ``paths``."""
    by_name = {Path(p).name: p for p in paths}
    names = link_list(list(by_name), limit, "finished run named")
    return lambda raw: [by_name[n] for n in names(raw)]


def link_list(options: list[str], limit: int, what: str) -> Callable[[str], list[str]]:
    """A parser of ``a,b`` into at most ``limit`` of ``options``."""
    def parse(raw: str) -> list[str]:
        chosen = [a for a in raw.split(",") if a]
        missing = [a for a in chosen if a not in options]
        if missing:
            raise ValueError(f"no {what} {', '.join(missing)}")
        if len(chosen) > limit:
            raise ValueError(f"at most {limit} of them")
        return chosen

    return parse


def link_int(lo: int, hi: int) -> Callable[[str], int]:
    """A parser of a whole number between lo and hi."""
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("not a whole number") from None
        if not lo <= value <= hi:
            raise ValueError(f"not between {lo} and {hi}")
        return value

    return parse


def link_choice(options: list[str]) -> Callable[[str], str]:
    """A parser of one of ``options``."""
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"choose one of {', '.join(options)}")
        return raw

    return parse


def _job_card(job: Job, curves: bool) -> None:
    with st.container(border=True):
        head, button = st.columns([5, 1])
        head.markdown(f"**{job.label}** · {job.kind} · `{job.state}`")
        if job.active and not demo_mode() and button.button("Cancel", key=f"cancel-{job.id}"):
            manager().cancel(job.id)
        eta = f" · ETA {job.eta_s:.0f} s" if job.eta_s is not None and job.active else ""
        losses = f" · loss {job.loss:.4g}" if job.loss is not None else ""
        losses += f" · R {job.reg:.4g}" if job.reg is not None else ""
        st.progress(job.fraction, text=f"epoch {job.epoch}/{job.epochs or '?'}{eta}{losses}")
        if job.state == "failed":
            st.error(f"Failed: {job.error}")
        if job.kind == "sweep":  # progress per run, from each run's status.json (also runs on Ray workers)
            st.dataframe(sweep_progress(job.runs), hide_index=True, key=f"runs-{job.id}")
        if curves and job.history:
            snaps = read_snapshots(open_run(job.runs[0])) if job.kind == "train" and job.runs else []
            if snaps:  # the latent plane beside the loss, redrawn at each snapshot the worker takes
                left, right = st.columns(2)
                left.plotly_chart(training_curves(job.history), key=f"curves-{job.id}")
                right.plotly_chart(snapshot_figure(snaps[-1], height=340), key=f"plane-{job.id}")
            else:
                st.plotly_chart(training_curves(job.history), key=f"curves-{job.id}")


def job_panel(keep: Callable[[Job], bool] = lambda job: True, curves: bool = True, limit: int = 6) -> None:
    """Live progress of this server's jobs, polled while any is running (a fragment)."""
    jobs = [j for j in manager().jobs() if keep(j)][:limit]
    if not jobs:
        return
    running = {j.id for j in jobs if j.active}

    def panel() -> None:
        now = [j for j in manager().jobs() if keep(j)][:limit]
        if any(j.id in running and not j.active for j in now):
            st.rerun()  # a job finished: refresh the whole page (run lists, figures)
        for job in now:
            _job_card(job, curves)

    st.fragment(panel, run_every=POLL_S if running else None)()
