"""Fetch named CMU trials (NN_MM.amc and NN.asf) from mocap.cs.cmu.edu, only when asked."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

from irvae_core.data.registry import DataError

CMU_URL = "http://mocap.cs.cmu.edu/subjects"


def _fetch(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(f"could not download {url} ({reason}); check the network, or put "
                        f"{dest.name} in {dest.parent} yourself") from e
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def download_trials(root: str | Path, trials: list[str]) -> None:
    """Download each trial ``NN_MM`` and its subject's skeleton into ``root`` (files there are kept)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for trial in trials:
        if not re.fullmatch(r"\d+_\d+", trial):
            raise DataError(f"CMU trial names look like '35_01' (subject_trial), got {trial!r}")
        subject = trial.split("_")[0]
        for name in (f"{subject}.asf", f"{trial}.amc"):
            if not (root / name).is_file() and not (root / subject / name).is_file():
                _fetch(f"{CMU_URL}/{subject}/{name}", root / name)
