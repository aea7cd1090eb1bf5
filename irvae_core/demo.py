"""Read-only demo mode: ``./lab app --demo`` or ``IRVAE_DEMO=1`` (the Dockerfile's documented public line).

Visitors explore every page, draw geodesics, query faces and upload a photo for the query (kept in memory,
never written), but cannot start, resume, cancel or flatten runs, write into a run (the Distances page's
"compute it now") or name a folder on the server. It is enforced where the work happens, not only by hiding
buttons: the job manager (``experiments.jobs.JobManager``), the data-folder check
(``data.roots.allowed_data_folder``) and the suite's writer refuse with ``DemoRefused``, one sentence.
"""

from __future__ import annotations

import os

ENV = "IRVAE_DEMO"

BANNER = ("This is a read-only demo: explore every page, draw geodesics, query faces and try your own photo "
          "(kept in memory only); training and server folders are switched off.")


class DemoRefused(PermissionError):
    """An action a demo's visitor may not take; the message is one sentence."""


def demo_mode() -> bool:
    """Whether this process serves a read-only demo ($IRVAE_DEMO set to 1, true, yes or on)."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


def refuse_in_demo(action: str) -> None:
    """Raise DemoRefused ("this is a read-only demo: visitors cannot <action>") in demo mode; nothing otherwise."""
    if demo_mode():
        raise DemoRefused(f"this is a read-only demo: visitors cannot {action}")
