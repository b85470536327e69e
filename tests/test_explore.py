"""Hardware exploration (experiments/explore): space validation, candidate mapping, Pareto
arithmetic, resumability with no repeated simulation, determinism, Ray = serial."""

from __future__ import annotations

import json

import pytest
import yaml

from fusiongym.experiments.cli import main
from fusiongym.experiments.explore.pareto import hypervolume, pareto_front, spearman
from fusiongym.experiments.explore.report import front_of
from fusiongym.experiments.explore.search import Explorer, Interrupted, run_search
from fusiongym.experiments.explore.space import Candidate, SpaceError, load_space

TINY = {
    "name": "tiny", "base": "ultra96", "target": {"fpga": "ultra96"},
    "knobs": {"gemm": ["1x16", "2x16", "2x32"], "wgt_kib": [128, 256], "clock_mhz": [250, 333]},
    "workloads": [{"network": "tiny_chain"}, {"network": "tiny_residual", "weight": 2}],
    "objectives": ["latency_ms", "utilisation"], "max_group_layers": 2,
}


def _space_file(tmp_path, **changes):
    data = {**TINY, **changes}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("changes, fragment", [
    ({"knobs": {"gemm_stage": [11, 12]}}, "unknown knob 'gemm_stage'; did you mean 'gemm_stages'?"),
    ({"knobs": {"gemm_stages": {"min": 20, "max": 11}}}, "knobs.gemm_stages: empty range"),
    ({"knobs": {"clock_mhz": []}}, "knobs.clock_mhz: empty list"),
    ({"knobs": {"wgt_kib": [100]}}, "not a power of two"),
    ({"knobs": {"gemm": ["3x16"]}}, "is not BATCHxBLOCK"),
    ({"knobs": {"gemm": ["2x64"]}}, "no candidate of the 1 fits the Ultra96 board"),
    ({"objectives": ["latency", "utilisation"]}, "did you mean 'latency_ms'?"),
    ({"objectives": ["latency_ms"]}, "objectives: List should have at least 2 items"),
    ({"target": {"fpga": "ultra69"}}, "did you mean 'ultra96'?"),
    ({"scheduler": "bound-dp", "objectives": ["energy_mj", "luts"]}, "energy_mj needs scheduler: oracle"),
    ({"workloads": [{"network": "resnet19"}]}, "workloads:"),
])
def test_bad_space_is_one_line_naming_the_problem(tmp_path, changes, fragment):
    with pytest.raises(SpaceError) as err:
        load_space(_space_file(tmp_path, **changes))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_candidate_becomes_the_hardware_it_names(tmp_path):
    space = load_space(_space_file(tmp_path, knobs={"gemm": ["2x16"], "alu_lanes": [16],
                                                    "wgt_kib": [512], "clock_mhz": [300]}))
    (c,) = space.all_candidates()
    hw = space.hardware(c)
    assert (hw.batch, hw.block_in, hw.wgt_buff_bytes, hw.clock_mhz) == (2, 16, 512 * 1024, 300.0)
    assert hw.alu_ii == 4  # 16 lanes over a 32-element accumulator vector: two passes
    assert hw.gemm_pipeline_stages == 16  # the fewest that close 300 MHz
    assert 2 * hw.peak_macs_per_cycle * hw.clock_mhz / 1e3 == pytest.approx(307.2)  # the talk's


def test_over_budget_candidates_are_dropped(tmp_path):
    space = load_space(_space_file(tmp_path))
    assert space.size == 12
    assert {c["gemm"] for c in space.fitting()} == {"1x16", "2x16"}  # 2x32: too many LUT MACs


def test_pareto_front_and_hypervolume():
    pts = [(1, 3), (2, 2), (3, 1), (2, 3), (2, 2)]
    assert pareto_front(pts) == [0, 1, 2]
    assert hypervolume(pts, (4, 4)) == pytest.approx(3 + 2 + 1)
    assert hypervolume([(1, 1, 1)], (2, 3, 4)) == pytest.approx(1 * 2 * 3)
    cube = [(0, 1, 1), (1, 0, 1), (1, 1, 0)]
    assert hypervolume(cube, (2, 2, 2)) == pytest.approx(3 * 2 - 3 * 1 + 1)  # inclusion-exclusion


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert spearman([1, 1, 2], [5, 5, 7]) == pytest.approx(1)  # ties get average ranks


def _run(space, run_dir, method="grid", **kw):
    explorer = Explorer(space, run_dir, progress=False, **{k: v for k, v in kw.items()
                                                          if k in ("stop_after", "num_workers")})
    with explorer.session():
        records = run_search(explorer, method, kw.get("budget"), kw.get("seed", 0), population=4)
    return explorer, records


def test_a_killed_exploration_resumes_with_no_repeated_simulation(tmp_path):
    space = load_space(_space_file(tmp_path))
    full, full_records = _run(space, tmp_path / "full")
    assert full.stats.evaluated == len(space.fitting()) == 8 and full.stats.sim_calls > 0

    killed = Explorer(space, tmp_path / "resumed", progress=False, stop_after=3)
    with pytest.raises(Interrupted):
        run_search(killed, "grid")
    with open(tmp_path / "resumed" / "journal.jsonl", "a") as f:
        f.write('{"format": 1, "key": "torn')  # a kill in the middle of a write
    resumed, records = _run(space, tmp_path / "resumed")
    assert resumed.stats.from_journal == 3 and resumed.stats.evaluated == 5
    # every group was simulated exactly once over the two runs: as many as in one run
    assert killed.stats.sim_calls + resumed.stats.sim_calls == full.stats.sim_calls
    assert [r.objectives for r in records] == [r.objectives for r in full_records]
    again, _ = _run(space, tmp_path / "resumed")
    assert again.stats.evaluated == 0 and again.stats.sim_calls == 0


def test_nsga2_is_deterministic_and_never_schedules_an_over_budget_design(tmp_path):
    space = load_space(_space_file(tmp_path))
    a, ra = _run(space, tmp_path / "a", "nsga2", budget=6, seed=3)
    b, rb = _run(space, tmp_path / "b", "nsga2", budget=6, seed=3)
    assert [r.key for r in ra] == [r.key for r in rb] and len(ra) == 6
    fitting = {c.key for c in space.fitting()}
    assert all(r.key in fitting for r in ra)
    assert a.stats.dropped_over_budget > 0  # 2x32 proposals were refused, not scheduled


def test_proxy_front_is_verified_by_the_oracle_on_the_cli(tmp_path, capsys):
    path = _space_file(tmp_path, scheduler="bound-dp")
    code = main(["explore", str(path), "--method", "grid", "--out", str(tmp_path / "run"),
                 "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["evaluated"] == 8 and out["sim_calls"] == 0  # the proxy simulates nothing
    assert out["front"] and all(f["key"] in {c.key for c in load_space(path).fitting()}
                                for f in out["front"])
    v = out["verified"]
    assert v["candidates"] == len(out["front"])
    lo, hi = v["oracle_over_proxy_latency"]
    assert 1.0 <= lo <= hi  # bound-dp's value is a lower bound on the oracle's
    assert (tmp_path / "run" / "pareto.png").stat().st_size > 0


def test_two_ray_workers_give_the_serial_front(tmp_path):
    pytest.importorskip("ray")
    space = load_space(_space_file(tmp_path))
    _, serial = _run(space, tmp_path / "serial")
    _, par = _run(space, tmp_path / "ray", num_workers=2)
    names = space.objectives
    assert ([(r.key, r.objectives) for r in front_of(serial, names)]
            == [(r.key, r.objectives) for r in front_of(par, names)])
