"""Scale-out on Ray: sweeps and the oracle batch give what the in-process paths give.

The grid parsing and the one-line errors need no Ray and always run; the rest is skipped
when Ray (the optional extra, ``pip install '.[ray]'``) is not installed.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.workloads.network import NetworkBuilder
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.oracle import OracleScheduler
from fusiongym.experiments.cli import main
from fusiongym.experiments.orchestration.config import parse_config
from fusiongym.experiments.orchestration.sweep import parse_grid, run_sweep, split_values, unpack, _pack

TINY = {
    "name": "tiny-sweep",
    "train_networks": ["tiny_chain", "synthetic:1"],
    "eval_networks": ["tiny_residual"],
    "ppo": {"n_timesteps": 256, "n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "eval_freq": 256,
    "checkpoint_freq": 256,
    "random_small_budget": 5,
}
BATCH = ["tiny_chain", "tiny_residual", "synthetic:2"]
BATCH_MAX_LAYERS = 4  # the DP's window: keeps synthetic:2's candidates (and the test) small


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _eval_without_timings(run_dir: Path) -> dict:
    data = json.loads((run_dir / "eval.json").read_text())
    data.pop("timings")
    data.pop("run")
    return data


# ---- no Ray needed --------------------------------------------------------------------
def test_grid_values_are_yaml_and_split_outside_brackets():
    grid = parse_grid(["ppo.learning_rate=1e-3,0.0003", "seed=0,1",
                       "ppo.policy_kwargs={net_arch: [64, 64]},{net_arch: [32]}",
                       "env.lookahead=2"])
    assert grid[0] == ("ppo.learning_rate", [("1e-3", 0.001), ("0.0003", 0.0003)])
    assert [v for _, v in grid[1][1]] == [0, 1]
    assert [v for _, v in grid[2][1]] == [{"net_arch": [64, 64]}, {"net_arch": [32]}]
    assert split_values("a,'b,c',[1,2]") == ["a", "'b,c'", "[1,2]"]


@pytest.mark.parametrize("grid, fragment", [
    ("ppo.learning_rat=0.1,0.2", "ppo.learning_rat: unknown key"),
    ("seed=0,one", "grid point seed=one: seed: Input should be a valid integer"),
    ("env.max_group_layers=4,0", "env.max_group_layers: Input should be greater than"),
    ("hardware=vta16,no_such_preset", "no_such_preset"),
    ("eval_networks=[no_such_net]", "no_such_net"),
    ("seed.x=1", "seed is not a section"),
    ("seed", "expected KEY=V1,V2"),
    ("seed=0,0", "repeated"),
    ("seed=0,", "an empty value"),
])
def test_bad_grid_is_one_line_and_nothing_starts(tmp_path, capsys, grid, fragment):
    out = tmp_path / "sweep"
    code = main(["sweep", str(_config_file(tmp_path)), "--grid", grid, "--out", str(out),
                 "--sequential"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fusiongym: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not out.exists()


def test_without_ray_the_error_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["sweep", str(_config_file(tmp_path)), "--grid", "seed=0,1",
                 "--out", str(tmp_path / "sweep")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "pip install '.[ray]'" in err and "--sequential" in err
    code = main(["oracle", "--networks", "tiny_chain", "tiny_residual"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install '.[ray]'" in err


def test_run_directory_from_another_node_round_trips(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "eval.json").write_text("{}")
    (src / "sub" / "model.zip").write_bytes(b"\0" * 100)
    unpack(_pack(src), tmp_path / "out" / "seed=1")
    assert (tmp_path / "out" / "seed=1" / "sub" / "model.zip").read_bytes() == b"\0" * 100
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["seed=1"]  # no temp left


# ---- on Ray ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    assert not ray.is_initialized()


def test_sweep_on_ray_equals_sequential(ray_session, tmp_path):
    base = parse_config(TINY)
    on_ray = run_sweep(base, ["seed=3,4"], tmp_path / "ray", log=lambda m: None)
    in_process = run_sweep(base, ["seed=3,4"], tmp_path / "seq", sequential=True,
                           log=lambda m: None)
    assert ray_session.is_initialized()  # the caller's session is left running
    assert on_ray.mode == "ray" and in_process.mode == "sequential"
    for out in (tmp_path / "ray", tmp_path / "seq"):
        assert sorted(p.name for p in out.iterdir()) == ["seed=3", "seed=4", "summary.json",
                                                         "summary.md"]
    for label in ("seed=3", "seed=4"):
        assert (_eval_without_timings(tmp_path / "ray" / label)
                == _eval_without_timings(tmp_path / "seq" / label))
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["ok", "ok"]
    assert [t["point"] for t in summary["trials"]] == [{"seed": 3}, {"seed": 4}]
    for mine, theirs in zip(summary["trials"], in_process.trials):
        assert mine["ppo_geomean_ratio_to_oracle"] == theirs["ppo_geomean_ratio_to_oracle"] >= 1
        assert mine["train_seconds"] > 0
    assert summary["best"] in ("seed=3", "seed=4")
    assert "| seed | PPO ratio to oracle |" in (tmp_path / "ray" / "summary.md").read_text()


def _sequential(names_or_nets, hw):
    """The exhaustive oracle one network at a time, each with a cold evaluator: it simulates
    every feasible candidate once, which is what the batch simulates (distinct ones only)."""
    exhaustive = ({"prune": False} if "prune" in inspect.signature(OracleScheduler).parameters
                  else {})
    out = {}
    for item in names_or_nets:
        net = get_network(item) if isinstance(item, str) else item
        ev = GroupEvaluator(hw)
        oracle = OracleScheduler(max_group_layers=BATCH_MAX_LAYERS, progress=False, evaluator=ev,
                                 **exhaustive)
        schedule = oracle.schedule(net, hw)
        feasible = {key for key in ev.keys() if ev.peek(key).feasible}
        assert oracle.last_cost.sim_calls == len(feasible)
        out[net.name] = (schedule, ev.sim_calls, feasible, oracle.candidates, net)
    return out


def _check_batch(report, seq, hw):
    from fusiongym.accelerator.evaluator import evaluate

    for name, (schedule, _, _, _, net) in seq.items():
        entry = report.entries[name]
        assert entry.schedule == schedule
        assert entry.latency_cycles == evaluate(net, schedule, hw, GroupEvaluator(hw)).latency_cycles
    total = sum(calls for _, calls, _, _, _ in seq.values())
    union = set().union(*(keys for _, _, keys, _, _ in seq.values()))
    shared = total - len(union)  # groups a later network repeats
    assert report.simulated == total - shared == len(union)  # no group simulated twice
    assert report.speculative == 0
    assert sum(e.sim_calls for e in report.entries.values()) == report.simulated
    assert report.evaluator.sim_calls == report.simulated
    assert report.candidates == sum(c for _, _, _, c, _ in seq.values())
    return shared


def test_oracle_batch_on_ray_equals_sequential(ray_session):
    from fusiongym.experiments.parallel.oracle_batch import oracle_batch, run_oracle_batch

    hw = load_config("vta16")
    report = run_oracle_batch(BATCH, hw, BATCH_MAX_LAYERS, num_workers=2)
    assert report.workers == 2 and report.tasks >= 2
    _check_batch(report, _sequential(BATCH, hw), hw)
    # the plain form: {name: (schedule, latency, sim_calls)}; a warm memo simulates nothing
    plain = oracle_batch(BATCH[:2], hw, BATCH_MAX_LAYERS, evaluator=report.evaluator)
    for name, (schedule, latency, calls) in plain.items():
        assert (schedule, latency, calls) == (report.entries[name].schedule,
                                              report.entries[name].latency_cycles, 0)


def test_oracle_batch_simulates_shared_groups_once(ray_session):
    from fusiongym.experiments.parallel.oracle_batch import run_oracle_batch

    b = NetworkBuilder("tiny_chain_prefix", (16, 32, 32))  # tiny_chain's first three layers
    x = b.conv(None, 16, 3, 1, name="c1")
    x = b.conv(x, 32, 3, 2, name="c2")
    b.conv(x, 32, 3, 1, name="c3")
    nets = ["tiny_chain", b.build()]
    hw = load_config("vta16")
    report = run_oracle_batch(nets, hw, BATCH_MAX_LAYERS, num_workers=2)
    shared = _check_batch(report, _sequential(nets, hw), hw)
    assert shared == 6 * len(hw.allowed_core_counts)  # every group of the prefix
    assert report.entries["tiny_chain_prefix"].sim_calls == 0  # tiny_chain simulated them


def test_oracle_batch_reads_and_fills_the_disk_store(ray_session, tmp_path):
    from fusiongym.experiments.parallel.oracle_batch import run_oracle_batch

    hw = load_config("vta16")
    if "store_path" not in inspect.signature(GroupEvaluator).parameters:
        pytest.skip("this GroupEvaluator has no on-disk store")
    store = tmp_path / "groups.sqlite"
    first = run_oracle_batch(["tiny_chain"], hw, 2, evaluator=GroupEvaluator(hw, store_path=store))
    again = run_oracle_batch(["tiny_chain"], hw, 2, evaluator=GroupEvaluator(hw, store_path=store))
    assert first.simulated == first.distinct > 0 and first.store_hits == 0
    assert again.simulated == 0 and again.store_hits == first.distinct and again.tasks == 0
    assert again.entries["tiny_chain"] == first.entries["tiny_chain"]._replace(sim_calls=0)


def test_oracle_cli_batch(ray_session, capsys):
    code = main(["oracle", "--networks", "tiny_chain", "tiny_residual", "--max-group-layers",
                 "2", "--num-workers", "2", "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    s = json.loads(out)
    assert [r["network"] for r in s["networks"]] == ["tiny_chain", "tiny_residual"]
    assert s["simulated"] == sum(r["sim_calls"] for r in s["networks"])
    single = main(["oracle", "--network", "tiny_residual", "--max-group-layers", "2", "--json"])
    one = json.loads(capsys.readouterr().out)
    assert single == 0 and one["latency_cycles"] == s["networks"][1]["latency_cycles"]
    assert one["speedup"] == pytest.approx(s["networks"][1]["speedup"])
