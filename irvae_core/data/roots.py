"""Which server folders the app may read data from: ``$IRVAE_DATA_ROOTS`` (the Docker image sets /data).

The app's data-folder fields let a visitor name a folder on the server; when IRVAE_DATA_ROOTS is
set (folders separated by ``os.pathsep``), only folders inside one of them are accepted, after
resolving ``..`` and symbolic links. Unset, every folder is accepted (a local, single-user app). In demo mode
(``irvae_core.demo``) no folder is accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

from irvae_core.data.registry import DataError
from irvae_core.demo import refuse_in_demo

ENV = "IRVAE_DATA_ROOTS"


def data_roots() -> list[Path] | None:
    """The allowed data folders, resolved; None when $IRVAE_DATA_ROOTS is unset (no restriction)."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    return [Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p.strip()]


def allowed_data_folder(folder: str | Path | None) -> str | None:
    """``folder`` unchanged when the app may read it (or it is empty); DataError in one sentence otherwise."""
    if folder is None or not str(folder).strip():
        return None
    refuse_in_demo("read folders on the server (the demo shows its shipped examples)")
    roots = data_roots()
    if roots is None:
        return str(folder)
    where = Path(str(folder).strip()).expanduser()
    if not where.is_absolute():
        raise DataError(f"the data folder {str(folder)!r} must be a full path inside "
                        f"{' or '.join(map(str, roots))} (this server's {ENV})")
    resolved = where.resolve()
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise DataError(f"the data folder {folder} is outside the folders this server reads data from "
                        f"({' or '.join(map(str, roots))}, set by {ENV}): put the data there")
    return str(folder)
