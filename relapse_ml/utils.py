"""Small helpers shared across modules: writes that never leave anything half-written."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relapse_ml.errors import RelapseMLError


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse an output file path that cannot be written: an existing directory, a parent
    that is a file, or (when ``suffixes`` are given) another extension. Commands call it
    before their work starts, so a bad path costs nothing; `atomic_write_bytes` calls it
    again."""
    path = Path(path)
    if path.is_dir():
        raise RelapseMLError(f"{path}: is a directory; give a file name for this output")
    _check_parents(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise RelapseMLError(
            f"{path}: allowed file types: {', '.join(suffixes)} (got {path.suffix or 'none'})"
        )
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write a file via a temporary sibling and rename, so no half-written file is left."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write_bytes` for text (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(x):
    """A value ``json.dumps`` can write as standard JSON: numpy scalars as Python numbers,
    NaN and infinities as null, paths as strings, dict keys as strings (recursively)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str | bytes):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def _check_parents(path: Path) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RelapseMLError(f"{path}: {parent} is a file, not a directory")
            return


def check_writable_dir(out: str | os.PathLike) -> Path:
    """Refuse a directory path that is a file or lies under one (the directory may exist:
    files are added to it)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RelapseMLError(f"{out}: is a file, not a directory; choose a directory path")
    _check_parents(out)
    return out


def check_output_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing non-empty directory unless ``overwrite``, and a file always."""
    out = check_writable_dir(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RelapseMLError(
            f"{out}: exists and is not empty; choose another directory or add --overwrite"
        )
    return out


@contextmanager
def atomic_directory(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory to fill; on success it replaces ``out``.

    On any error the temporary directory is removed and ``out`` is left as it was; an existing
    ``out`` is moved aside before the rename, so a failure never leaves neither.
    """
    out = check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_sqlite_readonly(uri: str):
    """The file of a ``sqlite:///PATH`` tracking URI, opened read-only (MLflow, given the
    URI, would create its tables in a missing or foreign file); None when the file does not
    exist; a user error naming the URI when it cannot be opened."""
    import sqlite3

    db = Path(uri[len("sqlite:///"):])
    if not db.is_file():
        return None
    try:
        return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as err:
        raise RelapseMLError(f"tracking store {uri} cannot be opened ({err})") from None
