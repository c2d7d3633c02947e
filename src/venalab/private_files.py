"""Files holding patient data are readable by their owner only (mode 0600, folders 0700).

Used for what venalab writes on the user's behalf: the SQLite database (store/db.py; SQLite
gives its -wal and -shm files the database file's mode), the var/ folder with the secret key,
and exported reports, FHIR Bundles, exam documents and DICOM SR files written by the CLI.
Writes are atomic: a temporary file in the same folder, then a rename, so an interrupted
export leaves the previous file (or none), never half of one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; a folder venalab creates is 0700."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically, mode 0600 (also when replacing a wider file)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist; narrow it to 0600 if it is
    ours and readable by others (a database created before this rule)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            with contextlib.suppress(OSError):
                path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
        return
    os.close(fd)
