"""Where a run's evaluations live: one pair of files per (hardware, network set), and an index.

An evaluation is never overwritten by a different one. The run's own evaluation (its
evaluation hardware and its config's held-out networks, what ``train`` and ``make demo``
write) keeps the names ``eval.json`` / ``eval.md`` that every reader knows; any other
evaluation is ``eval_<hardware>_<digest>.json`` / ``.md``, where the digest is over the
hardware's content (``HardwareConfig.key``) and the networks' content hashes, in order. So
re-running the *same* evaluation (same hardware, same networks, same seed: same numbers)
rewrites its own files, and evaluating other networks or hardware adds files beside them.

``evals.json`` indexes them (what each file holds, the hardware by content hash, which of
its networks were training networks). Run directories from before the index (``eval.json``
and ``eval-<hardware>.json`` only) are still read: :func:`evaluation_files` lists those too.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.fileio import atomic_write_json
from fusiongym.accelerator.workloads.network import Network

INDEX_FILE = "evals.json"
DEFAULT_STEM = "eval"
INDEX_VERSION = 1


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "hardware"


def hardware_hash(hw: HardwareConfig) -> str:
    """16 hex digits of the hardware's content (the name does not count)."""
    return hashlib.sha256(hw.key.encode()).hexdigest()[:16]


def evaluation_stem(hw: HardwareConfig, nets: list[Network], is_default: bool) -> str:
    if is_default:
        return DEFAULT_STEM
    payload = json.dumps({"hardware": hw.key, "networks": [n.content_hash() for n in nets]})
    return f"eval_{slug(hw.name)}_{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def file_pair(run_dir: Path, stem: str) -> tuple[Path, Path]:
    return Path(run_dir) / f"{stem}.json", Path(run_dir) / f"{stem}.md"


def read_index(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / INDEX_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []  # a hand-damaged index is rebuilt from the files on the next evaluation
    entries = data.get("evaluations") if isinstance(data, dict) else None
    return [e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("json"), str)]


def record(run_dir: Path, entry: dict) -> None:
    """Add (or replace, same file name) one evaluation's entry in ``evals.json``."""
    entries = [e for e in read_index(run_dir) if e["json"] != entry["json"]]
    entries.append(entry)
    entries.sort(key=lambda e: (e["json"] != f"{DEFAULT_STEM}.json", e["json"]))
    atomic_write_json(Path(run_dir) / INDEX_FILE,
                      {"version": INDEX_VERSION, "evaluations": entries})


def evaluation_files(run_dir: Path) -> list[Path]:
    """Every evaluation file of a run: ``eval.json`` first, then the indexed ones, then
    files of older runs (``eval-<hw>.json``, or ``eval_*.json`` missing from the index)."""
    run_dir = Path(run_dir)
    names = [f"{DEFAULT_STEM}.json"] + [e["json"] for e in read_index(run_dir)]
    names += sorted(p.name for p in run_dir.glob("eval-*.json"))
    names += sorted(p.name for p in run_dir.glob("eval_*.json"))
    seen: list[Path] = []
    for name in names:
        p = run_dir / name
        if p.is_file() and p not in seen:
            seen.append(p)
    return seen


def plot_suffix(path: Path) -> str:
    """What an evaluation file's plots are named after: '' for eval.json, else its stem's
    tail (``eval-pynq.json`` -> ``pynq``, ``eval_pynq_1a2b3c4d.json`` -> ``pynq_1a2b3c4d``)."""
    stem = Path(path).stem
    return "" if stem == DEFAULT_STEM else stem[len(DEFAULT_STEM) + 1:]
