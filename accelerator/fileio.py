"""Atomic file writes (temp file + fsync + rename): a reader sees the old or the new file, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json_object(path: str | Path, error: type[Exception], what: str) -> dict:
    """The JSON object in ``path``; a missing file, bad JSON or a non-object raise ``error``
    with one line naming the file (``what`` says what the file should be: "schedule" ...)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} file {str(path)!r} not found") from None
    except (OSError, json.JSONDecodeError) as err:
        raise error(f"{path}: not valid JSON: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object with 'groups'")
    return data


def read_yaml(path: str | Path, error: type[Exception], what: str):
    """The YAML document in ``path``; a missing file or bad YAML raise ``error`` with one
    line naming the file (``what`` says what the file should be: "workload", "config")."""
    import yaml  # only the YAML readers need it

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} file {str(path)!r} not found") from None
    except (OSError, yaml.YAMLError) as err:
        raise error(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
