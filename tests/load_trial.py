"""The load trial: a real `streamlit run app.py` server on loopback, visitors opening every page and interacting
while jobs train (tests/test_load.py runs it bounded; bench/load_trial.py reports its numbers).

The visitors drive the server through Streamlit's agent API (``server.enableAgentApi``, POST
``/_stcore/agent/interact``, described at ``/_stcore/agent/openapi.json``): a real session of the real server
per visitor, running the app's pages on the browser's rerun path, without a browser's rendering. Widgets are
found by their labels in each answer's ``actions``. What that API cannot do (a click on a plotly chart, a file
upload) the browser tests do.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.browser import server

PAGE_TIMEOUT_S = 240  # one answer; a page's first run on a loaded 2-core machine can take a minute


@contextmanager
def agent_server(runs: Path, log: Path, max_jobs: int = 2, extra_env: dict[str, str] | None = None):
    """`streamlit run app.py` with the agent API on, serving ``runs`` with IRVAE_MAX_JOBS=``max_jobs``;
    yields (url, pid)."""
    options = ("--server.enableAgentApi", "true", "--server.agentWaitTimeout", str(PAGE_TIMEOUT_S))
    with server(runs, log, options, {"IRVAE_MAX_JOBS": str(max_jobs), **(extra_env or {})}) as (url, proc):
        yield url, proc.pid


def nodes(tree: Any):
    """Every element of an answer's tree, depth first."""
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(reversed(n))
        elif isinstance(n, dict):
            yield n
            stack.extend(reversed(n.get("children") or []))


class Visitor:
    """One session of the server, driven through the agent API."""

    def __init__(self, url: str, name: str):
        self.endpoint, self.name = f"{url}/_stcore/agent/interact", name
        self.session: str | None = None
        self.snapshot: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.problems: list[str] = []

    def _post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.endpoint, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=PAGE_TIMEOUT_S + 30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def interact(self, what: str, **body: Any) -> dict[str, Any]:
        """Send one change (a page, widget values, a trigger) and wait for the settled answer; time it."""
        t0 = time.perf_counter()
        status, answer = self._post({**({"session_id": self.session} if self.session else {}), **body})
        while status == 202:  # the run outlasted the server's wait: collect it
            self.session = answer.get("session_id", self.session)
            status, answer = self._post({"session_id": self.session})
        self.seconds[what] = time.perf_counter() - t0
        if status != 200:
            self.problems.append(f"{self.name} {what}: HTTP {status} {answer.get('code')}: {answer.get('message')}")
            return answer
        self.session, self.snapshot = answer["session_id"], answer
        raised = [n.get("props", {}).get("message") or n.get("props") for n in nodes(answer["tree"])
                  if n.get("type") == "exception"]
        if answer.get("status") != "ready" or raised:
            self.problems.append(f"{self.name} {what}: status {answer.get('status')}, exceptions {raised}")
        return answer

    def key(self, label: str, kind: str | None = None) -> str:
        for a in self.snapshot.get("actions", []):
            if a["label"] == label and (kind is None or a["kind"] == kind):
                return a["key"]
        raise KeyError(f"{self.name}: no control labelled {label!r} on {self.snapshot.get('page')}")

    def element(self, key: str) -> dict[str, Any]:
        return next(n for n in nodes(self.snapshot["tree"]) if n.get("key") == key)

    def texts(self, kind: str) -> list[str]:
        return [str(n.get("props", {}).get("body", "")) for n in nodes(self.snapshot.get("tree")) if n["type"] == kind]


def tour(v: Visitor, seed: int) -> None:
    """Every page, with an interaction on Latent geometry, Interpolation and Face retrieval."""
    v.interact("home", page="")
    v.interact("train", page="train")
    v.interact("latent", page="latent")
    slider = v.key("Ellipses per run")
    props = v.element(slider)["props"]
    v.interact("latent: ellipses", widget_state={slider: int(props.get("min_value", 1)) + seed % 3})
    v.interact("tradeoff", page="tradeoff")
    v.interact("interpolation", page="interpolation")
    # another pair: five different ones among eight visitors (a pair already found is read, not found again)
    v.interact("interpolation: another pair", widget_state={"nth-B": 1 + seed % 5})
    v.interact("distances", page="distances")
    v.interact("retrieval", page="retrieval")
    attributes = v.key("Attributes (one or two)")
    options = v.element(attributes)["props"]["options"]
    v.interact("retrieval: query", widget_state={attributes: [options[seed % len(options)]]})
    v.interact("mocap", page="mocap")


def start_jobs(url: str, count: int, epochs: int = 12) -> Visitor:
    """``count`` training runs on the embedded digits, started from the Train page's form like a person would."""
    host = Visitor(url, "host")
    host.interact("train", page="train")
    for i in range(count):
        host.interact(f"start job {i}", widget_state={host.key("Dataset"): "digits", host.key("Epochs"): epochs,
                                                      host.key("Run name (optional; the folder adds the date)"):
                                                          f"load-{i}"},
                      trigger={"key": host.key("Start training", "trigger")})
        if not any(f"Started load-{i}" in s for s in host.texts("success")):
            host.problems.append(f"job {i} did not start: {host.texts('error')}")
    return host


@dataclass
class TrialResult:
    visitors: list[Visitor]
    host: Visitor
    wall_s: float
    max_running: int = 0
    running_seen: list[int] = field(default_factory=list)
    peak_rss_mib: float = 0.0

    @property
    def problems(self) -> list[str]:
        return [p for v in [self.host, *self.visitors] for p in v.problems]

    def slowest(self) -> list[tuple[str, str, float]]:
        """(visitor, page, seconds) of each visitor's slowest answer."""
        return [(v.name, *max(v.seconds.items(), key=lambda kv: kv[1])) for v in self.visitors if v.seconds]


def _running(runs: Path) -> int:
    count = 0
    for status in runs.glob("*/status.json"):
        try:
            count += json.loads(status.read_text()).get("state") == "running"
        except (OSError, ValueError):
            continue  # being replaced this instant
    return count


def _rss_mib(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_trial(url: str, pid: int, runs: Path, visitors: int = 8, jobs: int = 4, deadline_s: float = 600) -> TrialResult:
    """Start ``jobs`` training jobs, then ``visitors`` sessions touring every page at once; watch the server."""
    t0 = time.perf_counter()
    host = start_jobs(url, jobs)
    result = TrialResult([Visitor(url, f"visitor {i}") for i in range(visitors)], host, 0.0)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            result.running_seen.append(_running(runs))
            stop.wait(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=tour, args=(v, i), daemon=True) for i, v in enumerate(result.visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline_s - (time.perf_counter() - t0)))
    stop.set()
    watcher.join(5)
    for v, t in zip(result.visitors, threads):
        if t.is_alive():
            v.problems.append(f"{v.name}: still touring after {deadline_s:.0f} s")
    result.wall_s = time.perf_counter() - t0
    result.max_running = max(result.running_seen, default=0)
    result.peak_rss_mib = _rss_mib(pid, "VmHWM")  # the server process's peak resident memory so far
    return result
