"""A persistent, process-safe store of group results (SQLite), behind the in-memory memo.

One row per simulated (hardware, group shape, cores): the key is a stable hex digest of
those three plus a fingerprint of the model's source code (so results of an older model
are never served), the value the JSON of a :class:`~accelerator.results.GroupResult`'s
fields. SQLite gives what a shared cache needs for free:

- **several writers** (parallel oracle runs, SubprocVecEnv workers) serialise on SQLite's
  write lock (WAL mode, so readers never block and are never blocked); ``INSERT OR
  IGNORE`` makes a racing second writer of the same key a no-op, and both computed the
  same deterministic value anyway;
- **a process killed mid-write** leaves its transaction uncommitted; the next opener rolls
  it back from the WAL, so a row is either complete or absent, never half-written;
- **a file that is not a store** (garbage, a truncated copy, another SQLite schema) is
  reported as one line (:class:`StoreError`, a ``UserInputError``), or, with
  ``on_corrupt="rebuild"``, moved aside to ``PATH.corrupt-<time>`` and replaced by an
  empty store (a cache can always be rebuilt; nothing is deleted).

``synchronous=NORMAL`` in WAL mode can lose the last few commits on a *power* failure (not
a process crash) but never corrupts the file; for a cache that is the right trade.

Usage::

    store = GroupStore(".fusiongym-cache/groups.sqlite")
    key = group_key(hw.key, spec.key, cores)
    value = store.get(key)            # dict or None
    if value is None:
        store.put(key, result_to_dict(result))
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.results import GroupResult

STORE_FORMAT = 1  # bump when the table layout or the value format changes
# Source files whose behaviour decides a group's simulated numbers.
MODEL_SOURCES = ("isa.py", "workloads/network.py", "op_costs.py", "lowering/__init__.py",
                 "lowering/spec.py", "lowering/tiling.py", "lowering/fit.py", "lowering/emit.py",
                 "lowering/cost.py", "lowering/planner.py", "sim.py", "dram.py", "results.py",
                 "evaluator.py", "config.py", "objectives.py", "pipeline.py", "host.py")
RESULT_FIELDS = tuple(f.name for f in fields(GroupResult))
# Fields that describe the group's position, not its cost: not trusted from the store.
_POSITION_FIELDS = ("start", "end")


class StoreError(UserInputError):
    """The store file cannot be used (not a store, corrupt, unreadable). One line."""


@lru_cache(maxsize=1)
def model_fingerprint() -> str:
    """Digest of the model's source files: a stored result is only valid for the same model."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in MODEL_SOURCES:
        p = here / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"<missing>")
    return h.hexdigest()[:16]


def group_key(hw_key: str, spec_key: tuple, cores: int, model: str | None = None) -> str:
    """Stable hex key of (hardware, group shape, cores, model version).

    ``spec_key`` is :attr:`GroupSpec.key`, nested tuples of str / int / bool, whose
    ``repr`` is identical in every process (no hash randomisation involved).
    """
    text = repr((STORE_FORMAT, model if model is not None else model_fingerprint(), hw_key,
                 spec_key, int(cores)))
    return hashlib.sha256(text.encode()).hexdigest()


def result_to_dict(result: GroupResult) -> dict[str, Any]:
    return asdict(result)


def result_from_dict(value: dict[str, Any], start: int, end: int) -> GroupResult:
    """A GroupResult from a stored value, placed at layers ``start .. end-1``."""
    data = {k: value[k] for k in RESULT_FIELDS if k in value}
    data["start"], data["end"] = start, end
    return GroupResult(**data)


def lookup_or_run(store: "GroupStore", hw_key: str, spec_key: tuple, cores: int, start: int,
                  end: int, run: Callable[[], GroupResult]) -> tuple[GroupResult, bool]:
    """The stored result of a group if there is one, else ``run()`` stored and returned.

    Returns ``(result, simulated)``; ``simulated`` is False when the store answered. This
    is the one call :class:`accelerator.evaluator.GroupEvaluator` needs on a memo miss.
    """
    key = group_key(hw_key, spec_key, cores)
    value = store.get(key)
    if value is not None:
        return result_from_dict(value, start, end), False
    result = run()
    store.put(key, result_to_dict(result))
    return result, True


def valid_value(value: Any) -> bool:
    """Whether ``value`` has every GroupResult field (what :meth:`GroupStore.get` checks)."""
    return isinstance(value, dict) and all(k in value for k in RESULT_FIELDS)


class GroupStore:
    """On-disk map ``hex key -> dict`` (see the module docstring). Safe across processes.

    ``on_corrupt``: ``"error"`` (default) raises :class:`StoreError` if the file is not a
    healthy store; ``"rebuild"`` moves it aside and starts an empty one.
    ``check``: run SQLite's ``quick_check`` when opening (linear in the file size; it is
    what catches a truncated or overwritten file up front rather than on some later read).
    """

    def __init__(self, path: str | Path, on_corrupt: Literal["error", "rebuild"] = "error",
                 timeout_s: float = 60.0, check: bool = True):
        if on_corrupt not in ("error", "rebuild"):
            raise ValueError(f"on_corrupt must be 'error' or 'rebuild', got {on_corrupt!r}")
        self.path = Path(path)
        self.on_corrupt = on_corrupt
        self.timeout_s = timeout_s
        self.check = check
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._open()

    # ---- connection ----------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._conn = self._connect()
        except (sqlite3.DatabaseError, StoreError) as err:
            if self.on_corrupt != "rebuild" or not self.path.exists():
                raise self._error(err) from None
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            try:
                self._conn = self._connect()
            except sqlite3.DatabaseError as err2:
                raise self._error(err2) from None
        self._pid = os.getpid()

    def _connect(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a group store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=self.timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=NORMAL")
            if self.check:
                row = conn.execute("PRAGMA quick_check").fetchone()
                if row is None or row[0] != "ok":
                    raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else '?'}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS groups "
                             "(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(STORE_FORMAT),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            fmt = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if fmt is None or fmt[0] != str(STORE_FORMAT):
                raise StoreError(f"{self.path}: group store format {fmt[0] if fmt else '?'}, "
                                 f"this version reads format {STORE_FORMAT}")
            cols = [r[1] for r in conn.execute("PRAGMA table_info(groups)")]
            if cols != ["key", "value"]:
                raise StoreError(f"{self.path}: an SQLite file, but not a fusiongym group "
                                 f"store (table 'groups' has columns {cols})")
        except BaseException:
            conn.close()
            raise
        return conn

    def _error(self, err: BaseException) -> StoreError:
        if isinstance(err, StoreError):
            return err
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        return StoreError(f"{self.path}: not a usable group store ({msg}); delete it or open "
                          f"it with on_corrupt='rebuild'")

    @property
    def conn(self) -> sqlite3.Connection:
        # SQLite connections must not cross fork(): a forked child opens its own.
        if self._conn is None or self._pid != os.getpid():
            self._conn = None
            self._open()
        assert self._conn is not None
        return self._conn

    # ---- map API -------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        """The stored dict for ``key``, or None (absent, or a value that fails validation)."""
        try:
            row = self.conn.execute("SELECT value FROM groups WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if valid_value(value) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (first writer wins; a committed row never changes)."""
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Store several values in one transaction (all or none)."""
        rows = [(k, json.dumps(v, sort_keys=True)) for k, v in items]
        if not rows:
            return
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR IGNORE INTO groups (key, value) VALUES (?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        try:
            return int(self.conn.execute("SELECT COUNT(*) FROM groups").fetchone()[0])
        except sqlite3.DatabaseError as err:
            raise self._error(err) from None

    def items(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Every (key, value) pair; a value that fails validation is None (for checks)."""
        out = []
        for key, text in self.conn.execute("SELECT key, value FROM groups"):
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            out.append((key, value if valid_value(value) else None))
        return out

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> "GroupStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GroupStore({str(self.path)!r})"
