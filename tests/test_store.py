"""fusiongym.accelerator.store.GroupStore: round trip, concurrent writers, SIGKILLed writers, corrupt files."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.store import (RESULT_FIELDS, GroupStore, StoreError, group_key, result_from_dict,
                               result_to_dict)

CTX = mp.get_context("spawn")  # a fresh interpreter per writer, as separate runs would be


def _value(i: int) -> dict:
    """A deterministic GroupResult dict for key number ``i``."""
    return result_to_dict(GroupResult(
        0, 1 + i % 7, 1 << (i % 5), latency_cycles=1000 + i, dram_bytes_read=17 * i,
        dram_bytes_written=3 * i, macs=i * i, energy_pj=i / 3,
        busy_cycles={"load": i, "compute": 2 * i, "store": 3 * i}, instructions=i + 5,
        events=11 * i))


def _key(i: int) -> str:
    return group_key("hw", (("conv2d", i), (0,), True), 1, model="test")


def _writer(path: str, indices: list[int], barrier) -> None:
    store = GroupStore(path)
    barrier.wait()
    for i in indices:
        store.put(_key(i), _value(i))
    store.close()


def _endless_writer(path: str, start: int, ready) -> None:
    store = GroupStore(path)
    i = start
    while True:
        store.put_many([(_key(i + k), _value(i + k)) for k in range(5)])
        if i == start:
            ready.set()
        i += 5


def test_round_trip(tmp_path):
    path = tmp_path / "store.sqlite"
    r = GroupResult(3, 5, 4, latency_cycles=123, busy_cycles={"load": 1, "compute": 2, "store": 3},
                    energy_pj=1.5, events=99)
    with GroupStore(path) as store:
        assert len(store) == 0 and store.get("abc") is None
        store.put("abc", result_to_dict(r))
        store.put("abc", result_to_dict(GroupResult(0, 1, 1)))  # first writer wins
        assert len(store) == 1 and "abc" in store
    with GroupStore(path) as store:  # survives reopening
        got = result_from_dict(store.get("abc"), 10, 12)
    assert got == GroupResult(10, 12, 4, latency_cycles=123,
                              busy_cycles={"load": 1, "compute": 2, "store": 3},
                              energy_pj=1.5, events=99)


def test_key_is_stable_and_discriminating():
    spec_key = (("conv2d", 64, 56, 56, 64, (3, 3), (1, 1), (1, 1), 1, 1, "relu", (0, 0), 1),)
    k = group_key("hw-a", spec_key, 4, model="m")
    assert k == group_key("hw-a", spec_key, 4, model="m") and len(k) == 64
    assert len({k, group_key("hw-b", spec_key, 4, model="m"), group_key("hw-a", spec_key, 8, model="m"),
                group_key("hw-a", spec_key, 4, model="m2"), group_key("hw-a", spec_key[:0], 4, model="m")}) == 5


def test_key_is_the_same_in_another_process(tmp_path):
    # repr of the nested tuples must not depend on per-process hash randomisation
    with CTX.Pool(1) as pool:
        other = pool.apply(group_key, ("hw", (("conv2d", 3, True),), 2, "m"))
    assert other == group_key("hw", (("conv2d", 3, True),), 2, "m")


def test_concurrent_writers_same_and_different_keys(tmp_path):
    path = str(tmp_path / "store.sqlite")
    GroupStore(path).close()
    shared = list(range(0, 200))  # both write these
    barrier = CTX.Barrier(2)
    procs = [CTX.Process(target=_writer, args=(path, shared + list(range(1000 + 1000 * w, 1150 + 1000 * w)),
                                               barrier)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    expected = shared + list(range(1000, 1150)) + list(range(2000, 2150))
    with GroupStore(path) as store:
        assert len(store) == len(expected)
        for i in expected:
            assert store.get(_key(i)) == _value(i)


def test_sigkilled_writer_leaves_only_valid_rows(tmp_path):
    path = str(tmp_path / "store.sqlite")
    GroupStore(path).close()
    fork = mp.get_context("fork")  # cheap to start, so many kill points
    rounds = 10
    for round_ in range(rounds):
        ready = fork.Event()
        p = fork.Process(target=_endless_writer, args=(path, 100_000 * round_, ready))
        p.start()
        assert ready.wait(60)
        time.sleep(0.01 + 0.013 * round_)  # kill at a different point each round
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        assert p.exitcode == -signal.SIGKILL
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with GroupStore(path) as store:
        items = store.items()
        assert len(items) >= rounds * 5 and len(items) == len(store)
        for key, value in items:
            assert value is not None and set(RESULT_FIELDS) <= set(value)
            i = value["events"] // 11  # _value(i) records i
            assert key == _key(i) and value == _value(i)
        store.put("after", _value(1))  # still writable
        assert store.get("after") == _value(1)


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 5000])
def test_corrupt_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "store.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        GroupStore(path)
    assert isinstance(info.value, UserInputError)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and "rebuild" in msg
    assert path.read_bytes() == content  # nothing was touched


def test_truncated_store_is_detected(tmp_path):
    path = tmp_path / "store.sqlite"
    with GroupStore(path) as store:
        store.put_many([(_key(i), _value(i)) for i in range(2000)])
    conn = sqlite3.connect(path)  # fold the WAL into the main file, then cut it in half
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError):
        GroupStore(path)


def test_other_sqlite_schema_is_rejected(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE groups (a INTEGER, b INTEGER, c INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a fusiongym group store"):
        GroupStore(path)


def test_rebuild_moves_the_corrupt_file_aside(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with GroupStore(path, on_corrupt="rebuild") as store:
        assert len(store) == 0
        store.put("k", _value(2))
        assert store.get("k") == _value(2)
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == b"garbage" * 1000


def test_invalid_row_reads_as_a_miss(tmp_path):
    path = tmp_path / "store.sqlite"
    GroupStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO groups VALUES ('bad-json', '{not json')")
    conn.execute("INSERT INTO groups VALUES ('missing-fields', ?)", (json.dumps({"start": 0}),))
    conn.commit()
    conn.close()
    with GroupStore(path) as store:
        assert store.get("bad-json") is None and store.get("missing-fields") is None


def test_forked_child_opens_its_own_connection(tmp_path):
    path = tmp_path / "store.sqlite"
    store = GroupStore(path)
    store.put("parent", _value(1))
    ctx = mp.get_context("fork")
    p = ctx.Process(target=lambda: store.put("child", _value(2)))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    assert store.get("child") == _value(2)
    store.close()


def test_directory_path_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        GroupStore(tmp_path)


def test_lookup_or_run_serves_the_simulated_result(tmp_path):
    """What GroupEvaluator will do on a memo miss: a store hit equals a fresh simulation."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import run_group
    from fusiongym.accelerator.lowering import GroupSpec
    from fusiongym.accelerator.store import lookup_or_run
    from fusiongym.accelerator.workloads.zoo import get_network

    hw = load_config(None)
    net = get_network("tiny_residual")
    spec = GroupSpec.from_network(net, 1, 4)
    calls = []

    def run():
        calls.append(1)
        return run_group(spec, 4, hw, 1)[0]

    with GroupStore(tmp_path / "s.sqlite") as store:
        first, simulated = lookup_or_run(store, hw.key, spec.key, 4, 1, 4, run)
        assert simulated and first.feasible and len(store) == 1
    with GroupStore(tmp_path / "s.sqlite") as store:  # a later process
        again, simulated = lookup_or_run(store, hw.key, spec.key, 4, 7, 10, run)
    assert not simulated and len(calls) == 1
    assert (again.start, again.end) == (7, 10)
    assert result_to_dict(again) | {"start": 1, "end": 4} == result_to_dict(first)
