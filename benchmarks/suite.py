"""The benchmark suite B1..B5 (see ``benchmarks/__init__.py`` for what each measures).

B1 runs in this process (it is also what the tests exercise, on tiny networks); B2, B3
and B4 each run in a fresh interpreter per network (``benchmarks.child``), which gives
cold process-wide caches and a clean peak RSS, and B5 reports those peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from fusiongym.benchmarks.common import (ROOT, cold_reset, gc_paused, log, machine_info, peak_rss_mib,
                               run_child, summary, timed)

SCHEMA = 1
BENCHMARKS = ("B1", "B2", "B3", "B4", "B5")
TITLES = {
    "B1": "event rate: model vs bare SimPy pipeline",
    "B2": "full-network evaluation, cold cache",
    "B3": "exact oracle, cold and warm memo",
    "B4": "FusionEnv and MaskablePPO throughput",
    "B5": "peak memory (RSS) of B2 and B3, one process per network",
}
RATIO_TARGET = 0.6
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"

FULL: dict[str, Any] = {
    "b1_networks": ["resnet18"],
    "b1_configs": ["nofusion@1", "nofusion@16", "oracle", "oracle@1", "oracle@16"],
    "b1_repeats": 5,
    "bare_cores": [1, 16],
    "bare_instructions": 30_000,
    "b2_networks": ["resnet18", "resnet50", "mobilenet_v2", "vgg16"],
    "b2_repeats": 3,
    "b3_networks": None,  # None: every zoo network
    "b3_warm_repeats": 3,
    "max_group_layers": 8,
    "b4_networks": ["resnet18", "mobilenet_v2", "squeezenet1_1"],
    "b4_env_steps": 500,
    "b4_warm_repeats": 7,
    "b4_ppo_steps": 2048,
    "b4_ppo_n_steps": 512,
    "child_timeout_s": 3600,
}
QUICK: dict[str, Any] = {
    **FULL,
    "b1_repeats": 2,
    "bare_instructions": 9_000,
    "b2_networks": ["resnet18"],
    "b2_repeats": 1,
    "b3_networks": ["tiny_chain", "tiny_residual", "resnet18"],
    "b3_warm_repeats": 2,
    "b4_networks": ["resnet18"],
    "b4_env_steps": 150,
    "b4_warm_repeats": 3,
    "b4_ppo_steps": 512,
    "b4_ppo_n_steps": 256,
    "child_timeout_s": 300,
}

METHOD = {
    "clock": "time.perf_counter; every number is the median over `repeats` unless stated",
    "gc": "B1: cyclic GC collected before and disabled during each timed section. B2-B4: GC "
          "left on (searches allocate enough cyclic SimPy garbage that it must run).",
    "cold": "cold = benchmarks.common.cold_reset() (every lru_cache in the model's modules and "
            "the shared default evaluators emptied) + a new GroupEvaluator; B2/B3/B4 also run "
            "in a fresh interpreter per network",
    "events": "SimPy events = next(env._eid) after env.run(), for the model (as "
              "accelerator/sim.py reports) and the bare pipeline alike; each distinct "
              "(group, cores) of a schedule simulated once, as the memo does",
    "B1.order": "repeats are the outer loop: each repeat runs every bare synthetic pipeline, "
                "then per schedule the model, its bare replay and the end-to-end evaluation",
    "B1.sim": "timed: accelerator.sim.simulate(programs, hw) for each distinct group of the "
              "schedule (environment + processes + env.run + SimResult); lowering done "
              "beforehand, untimed",
    "B1.e2e": "timed: accelerator.evaluator.evaluate(network, schedule) from cold (specs, "
              "lowering, simulation, memo)",
    "B1.bare": "timed: bare pipeline environment + queues + processes + env.run (stream "
               "built beforehand, untimed). 'synthetic': balanced LOAD/GEMM/STORE tiles with "
               "double-buffering tokens; 'replay': the same lowered programs the model ran",
    "B1.ratio": "pooled model sim events/s / pooled bare synthetic events/s (target >= 0.6); "
                "ratio_replay per schedule: model / bare replay of the same programs",
    "B3": "cold: one run (new evaluator, fresh process); warm: the same scheduler again with "
          "its memo filled, median of repeats",
    "B4.env": "random valid actions (uniform over the action mask); cold: fresh process, "
              "evaluator and env; warm: the identical trajectory again (same seeds), every "
              "group a memo hit, the median pass of `warm_repeats` (one warm pass of 500 "
              "steps takes ~40 ms: a single sample moved 2-4x with the machine's load); "
              "timed: reset + step calls",
    "B4.ppo": "MaskablePPO('MlpPolicy', 1 env, torch 1 thread) learn(total_timesteps); memo "
              "warm from the env passes; env share = time inside env.step/reset",
    "B5": "ru_maxrss of the child process that ran B2 / B3 for one network (includes the "
          "interpreter and imports: rss_after_imports_mib); for B2 also the tracemalloc "
          "peak of one extra cold evaluation (largest over its schedules), untimed",
}


# ---- helpers ----------------------------------------------------------------------------
def _hw(hw_name: str | None):
    from fusiongym.accelerator.config import load_config

    return load_config(hw_name)


def _max_cores(hw) -> int:
    return max(hw.allowed_core_counts)


def compute_oracle_schedule(network: str, hw, max_group_layers: int = 8):
    """The oracle's schedule, in this process, with its own evaluator (untimed use)."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.agents.oracle import OracleScheduler

    oracle = OracleScheduler(max_group_layers=max_group_layers, progress=False,
                             evaluator=GroupEvaluator(hw))
    return oracle.schedule(get_network(network), hw)


def _schedule_for(net, config: str, hw, oracle_schedule: Callable[[str], Any]):
    """``nofusion@C`` / ``nofusion@default`` / ``oracle`` / ``oracle@C`` -> Schedule."""
    from fusiongym.accelerator.schedule import Group, Schedule

    base, _, cores = config.partition("@")
    if base == "nofusion":
        c = hw.default_cores if cores in ("", "default") else int(cores)
        return Schedule.no_fusion(net, c)
    if base == "oracle":
        sched = oracle_schedule(net.name)
        if cores:
            sched = Schedule(tuple(Group(g.start, g.end, int(cores)) for g in sched.groups),
                             sched.network, sched.network_hash)
        return sched
    raise ValueError(f"unknown schedule config {config!r}")


def _rate(events: float, seconds: float) -> float:
    return events / seconds if seconds > 0 else 0.0


# ---- B1 ---------------------------------------------------------------------------------
def _per_burst(hw) -> int:
    return max(1, hw.dram_burst_bytes // hw.instruction_bytes)


def _run_bare(hw, streams) -> tuple[int, float]:
    from fusiongym.benchmarks.bare import run_bare

    events, seconds, _ = run_bare(streams, hw.cmd_queue_depth, hw.token_queue_depth,
                                  _per_burst(hw), hw.dram_latency_cycles)
    return events, seconds


def _prepare(net, config: str, hw, oracle_schedule: Callable[[str], Any]) -> dict[str, Any]:
    """Untimed: the schedule and the distinct (group shape, cores) the memo would simulate,
    lowered, plus their bare-pipeline streams. ``skipped`` if a group is infeasible."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.lowering import lower_group
    from fusiongym.benchmarks.bare import from_programs

    row: dict[str, Any] = {"network": net.name, "schedule": config}
    sched = _schedule_for(net, config, hw, oracle_schedule)
    row["groups"] = len(sched.groups)
    cold_reset()
    ev = GroupEvaluator(hw)
    unique: dict[tuple, list] = {}
    for g in sched.groups:
        spec = ev.spec(net, g.start, g.end)
        key = (spec.key, g.cores)
        if key in unique:
            continue
        lowered = lower_group(spec, g.cores, hw)
        if not lowered.feasible:
            row["skipped"] = f"group {g.start}..{g.end - 1} x{g.cores}: {lowered.reason}"
            return {"row": row}
        unique[key] = lowered.programs
    row["distinct_groups"] = len(unique)
    programs = list(unique.values())
    return {"row": row, "net": net, "schedule": sched, "programs": programs,
            "streams": [from_programs(p, hw.dram_bandwidth_bytes_per_cycle) for p in programs],
            "sim": [], "replay": [], "e2e": []}


def _measure_once(item: dict[str, Any], hw) -> None:
    """One repeat of one schedule: sim-only, bare replay, end-to-end cold (in that order)."""
    from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
    from fusiongym.accelerator.sim import simulate

    row = item["row"]
    total, events = 0.0, 0
    with gc_paused():
        for progs in item["programs"]:
            t0 = time.perf_counter()
            sim = simulate(progs, hw)
            total += time.perf_counter() - t0
            events += sim.events
    item["sim"].append(total)
    row["events"] = events
    total, events = 0.0, 0
    with gc_paused():
        for streams in item["streams"]:
            e, seconds = _run_bare(hw, streams)
            total += seconds
            events += e
    item["replay"].append(total)
    row["bare_replay_events"] = events
    cold_reset()
    ev = GroupEvaluator(hw)
    net, sched = item["net"], item["schedule"]
    seconds, _ = timed(lambda: evaluate(net, sched, hw, ev), gc_off=True)
    item["e2e"].append(seconds)
    row["sim_calls"] = ev.sim_calls


def _finish(item: dict[str, Any]) -> dict[str, Any]:
    row = item["row"]
    if "skipped" in row:
        return row
    row["sim_seconds"] = summary(item["sim"])
    row["events_per_s"] = _rate(row["events"], row["sim_seconds"]["median"])
    row["bare_replay_seconds"] = summary(item["replay"])
    row["bare_replay_events_per_s"] = _rate(row["bare_replay_events"],
                                            row["bare_replay_seconds"]["median"])
    row["ratio_replay"] = _rate(row["events_per_s"], row["bare_replay_events_per_s"])
    row["e2e_seconds"] = summary(item["e2e"])
    row["e2e_events_per_s"] = _rate(row["events"], row["e2e_seconds"]["median"])
    return row


def b1_event_rate(hw, networks: Sequence[str], configs: Sequence[str], repeats: int,
                  bare_cores: Sequence[int], bare_instructions: int,
                  oracle_schedule: Callable[[str], Any] | None = None,
                  max_group_layers: int = 8) -> dict[str, Any]:
    """B1: the model's SimPy events/s against the bare pipeline's, in one run.

    Repeats are the outer loop: each repeat measures every schedule (model, then the bare
    replay of the same programs, then end-to-end) and every bare synthetic pipeline, so
    all rates are sampled over the same stretch of time (fair under a varying machine load).
    """
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.benchmarks.bare import synthetic_stream

    if oracle_schedule is None:
        cache: dict[str, Any] = {}

        def oracle_schedule(name: str):
            if name not in cache:
                cache[name] = compute_oracle_schedule(name, hw, max_group_layers)
            return cache[name]

    items = [_prepare(get_network(name), config, hw, oracle_schedule)
             for name in networks for config in configs]
    bare_items = []
    for cores in bare_cores:
        if cores <= hw.num_cores:
            tiles = max(3, bare_instructions // (3 * cores))
            streams = [synthetic_stream(tiles) for _ in range(cores)]
            bare_items.append({"cores": cores, "streams": streams, "samples": [],
                               "instructions": sum(len(x) for x in streams), "events": 0})
    for _ in range(repeats):
        for b in bare_items:
            with gc_paused():
                b["events"], seconds = _run_bare(hw, b["streams"])
            b["samples"].append(seconds)
        for item in items:
            if "skipped" not in item["row"]:
                _measure_once(item, hw)
    bare = []
    for b in bare_items:
        s = summary(b["samples"])
        bare.append({"cores": b["cores"], "instructions": b["instructions"],
                     "events": b["events"], "seconds": s,
                     "events_per_s": _rate(b["events"], s["median"])})
        log(f"B1 bare pipeline x{b['cores']}: {bare[-1]['events_per_s']:,.0f} events/s")
    rows = [_finish(item) for item in items]
    for row in rows:
        if "skipped" in row:
            log(f"B1 {row['network']} {row['schedule']}: skipped ({row['skipped']})")
        else:
            log(f"B1 {row['network']} {row['schedule']}: {row['events_per_s']:,.0f} events/s "
                f"(bare replay {row['bare_replay_events_per_s']:,.0f})")
    done = [r for r in rows if "skipped" not in r]
    model_events = sum(r["events"] for r in done)
    model_seconds = sum(r["sim_seconds"]["median"] for r in done)
    model_rate = _rate(model_events, model_seconds)
    bare_rate = _rate(sum(b["events"] for b in bare), sum(b["seconds"]["median"] for b in bare))
    replay_rate = _rate(sum(r["bare_replay_events"] for r in done),
                        sum(r["bare_replay_seconds"]["median"] for r in done))
    ratio = _rate(model_rate, bare_rate)
    return {
        "repeats": repeats,
        "bare": bare,
        "model": rows,
        "model_events_per_s": model_rate,
        "bare_events_per_s": bare_rate,
        "bare_replay_events_per_s": replay_rate,
        "ratio": ratio,
        "ratio_replay": _rate(model_rate, replay_rate),
        "target_ratio": RATIO_TARGET,
        "meets_target": ratio >= RATIO_TARGET,
    }


# ---- B2 / B3 / B4 bodies (run in a child process) --------------------------------------
def b2_network(hw_name: str | None, network: str, repeats: int,
               oracle: dict | None) -> dict[str, Any]:
    """B2 for one network: cold evaluation of no-fusion (default and max cores) and oracle."""
    from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
    from fusiongym.accelerator.schedule import Schedule
    from fusiongym.accelerator.workloads.zoo import get_network

    hw = _hw(hw_name)
    net = get_network(network)
    schedules = {f"nofusion@{hw.default_cores}": Schedule.no_fusion(net, hw.default_cores),
                 f"nofusion@{_max_cores(hw)}": Schedule.no_fusion(net, _max_cores(hw))}
    if oracle is not None:
        schedules["oracle"] = Schedule.from_dict(oracle)
    rss_start = peak_rss_mib()
    rows = []
    for label, sched in schedules.items():
        samples, ev, result = [], None, None
        for _ in range(repeats):
            cold_reset()
            ev = GroupEvaluator(hw)
            seconds, result = timed(lambda: evaluate(net, sched, hw, ev))
            samples.append(seconds)
        rows.append({"network": network, "schedule": label, "groups": len(sched.groups),
                     "sim_calls": ev.sim_calls, "seconds": summary(samples),
                     "latency_cycles": result.latency_cycles,
                     "events": sum(r.events for r in result.groups),
                     "traced_peak_mib": _traced_peak_mib(net, sched, hw)})
        log(f"B2 {network} {label}: {rows[-1]['seconds']['median']:.3f} s, "
            f"{ev.sim_calls} sim calls")
    return {"rows": rows, "rss_after_imports_mib": rss_start, "peak_rss_mib": peak_rss_mib()}


def _traced_peak_mib(net, sched, hw) -> float:
    """Peak Python heap (tracemalloc) of one more cold evaluation, untimed: B2's workloads
    are small enough that ru_maxrss rarely rises above the imports' own peak."""
    import tracemalloc

    from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate

    cold_reset()
    ev = GroupEvaluator(hw)
    tracemalloc.start()
    try:
        evaluate(net, sched, hw, ev)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def b3_network(hw_name: str | None, network: str, warm_repeats: int,
               max_group_layers: int) -> dict[str, Any]:
    """B3 for one network: the oracle from a cold memo, then again with the memo warm."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.agents.oracle import OracleScheduler

    hw = _hw(hw_name)
    net = get_network(network)
    rss_start = peak_rss_mib()
    cold_reset()
    ev = GroupEvaluator(hw)
    oracle = OracleScheduler(max_group_layers=max_group_layers, progress=False, evaluator=ev)
    seconds, sched = timed(lambda: oracle.schedule(net, hw))
    row: dict[str, Any] = {
        "network": network, "layers": len(net), "candidates": oracle.candidates,
        "cold_seconds": seconds, "cold_sim_calls": oracle.last_cost.sim_calls,
        "memo_entries": len(ev), "latency_cycles": oracle.last_value,
        "groups": len(sched.groups)}
    log(f"B3 {network}: cold {seconds:.2f} s, {row['cold_sim_calls']} sim calls")
    warm, warm_calls = [], 0
    for _ in range(warm_repeats):
        s2, again = timed(lambda: oracle.schedule(net, hw))
        warm.append(s2)
        warm_calls = max(warm_calls, oracle.last_cost.sim_calls)
        if again != sched:
            row["warning"] = "the warm run chose a different schedule"
    if warm:
        row["warm_seconds"] = summary(warm)
        row["warm_sim_calls"] = warm_calls
    peak = peak_rss_mib()
    row["rss_after_imports_mib"], row["peak_rss_mib"] = rss_start, peak
    return {"row": row, "schedule": sched.to_dict()}


def _env_pass(env, steps: int, seed: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    calls_before = env.evaluator.sim_calls
    t0 = time.perf_counter()
    env.reset(seed=seed)
    episodes = 0
    for _ in range(steps):
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            env.reset()
    seconds = time.perf_counter() - t0
    return {"steps": steps, "episodes": episodes, "seconds": seconds,
            "steps_per_s": _rate(steps, seconds),
            "sim_calls": env.evaluator.sim_calls - calls_before}


def b4_throughput(hw_name: str | None, networks: list[str], env_steps: int, ppo_steps: int,
                  ppo_n_steps: int, max_group_layers: int,
                  warm_repeats: int = 1) -> dict[str, Any]:
    """B4: env steps/s with random masked actions (cold, warm) and MaskablePPO steps/s."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.envs.fusion_env import FusionEnv

    hw = _hw(hw_name)
    cold_reset()
    ev = GroupEvaluator(hw)
    env = FusionEnv(networks, hw=hw, evaluator=ev, max_group_layers=max_group_layers)
    out: dict[str, Any] = {"networks": networks, "env": {}}
    out["env"]["cold"] = _env_pass(env, env_steps, seed=0)
    # The same trajectory again, memo filled; the median of several passes, because one
    # pass lasts tens of milliseconds and a single sample is mostly the machine's noise.
    warm = sorted((_env_pass(env, env_steps, seed=0) for _ in range(max(1, warm_repeats))),
                  key=lambda p: p["seconds"])
    out["env"]["warm"] = {**warm[len(warm) // 2],
                          "seconds_samples": summary([p["seconds"] for p in warm])}
    for k in ("cold", "warm"):
        log(f"B4 env {k}: {out['env'][k]['steps_per_s']:.1f} steps/s, "
            f"{out['env'][k]['sim_calls']} sim calls")
    if ppo_steps > 0:
        out["ppo"] = _ppo(hw, networks, ev, ppo_steps, ppo_n_steps, max_group_layers)
        log(f"B4 MaskablePPO: {out['ppo']['steps_per_s']:.1f} steps/s")
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def _ppo(hw, networks, ev, total: int, n_steps: int, max_group_layers: int) -> dict[str, Any]:
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.envs.fusion_env import FusionEnv

    torch.set_num_threads(1)
    env = FusionEnv(networks, hw=hw, evaluator=ev, max_group_layers=max_group_layers)
    env_time = [0.0]
    step, reset = env.step, env.reset

    def timed_step(action):
        t0 = time.perf_counter()
        try:
            return step(action)
        finally:
            env_time[0] += time.perf_counter() - t0

    def timed_reset(**kwargs):
        t0 = time.perf_counter()
        try:
            return reset(**kwargs)
        finally:
            env_time[0] += time.perf_counter() - t0

    env.step, env.reset = timed_step, timed_reset  # instance attributes: DummyVecEnv calls these
    venv = DummyVecEnv([lambda: env])
    model = MaskablePPO("MlpPolicy", venv, n_steps=n_steps, batch_size=64, seed=0,
                        device="cpu", verbose=0)
    calls_before = ev.sim_calls
    env_time[0] = 0.0
    seconds, _ = timed(lambda: model.learn(total_timesteps=total))
    steps = int(model.num_timesteps)
    venv.close()
    return {"timesteps": steps, "n_steps": n_steps, "batch_size": 64, "seconds": seconds,
            "steps_per_s": _rate(steps, seconds), "env_seconds": env_time[0],
            "env_share": env_time[0] / seconds if seconds else 0.0,
            "sim_calls": ev.sim_calls - calls_before}


# ---- the run ----------------------------------------------------------------------------
def parse_only(text: str | None) -> list[str]:
    from fusiongym.accelerator.errors import UserInputError

    if not text:
        return list(BENCHMARKS)
    chosen = [t.strip().upper() for t in text.split(",") if t.strip()]
    bad = [t for t in chosen if t not in BENCHMARKS]
    if bad or not chosen:
        raise UserInputError(f"--only: unknown benchmark {', '.join(bad) or repr(text)}; "
                             f"choose from {','.join(BENCHMARKS)}")
    return [b for b in BENCHMARKS if b in chosen]


def run_suite(only: Sequence[str] = BENCHMARKS, quick: bool = False, hw_name: str | None = None,
              settings: dict[str, Any] | None = None, name: str = "") -> dict[str, Any]:
    """Run the selected benchmarks; return the results document.

    The order matters: B3's children run first because their oracle schedules are reused
    by B1 and B2 (each computed once, in a child, untimed here)."""
    t_start = time.perf_counter()
    run = _SuiteRun(_resolved_settings(quick, settings), hw_name)
    hw = _hw(hw_name)
    selected = set(only)
    doc = _new_document(name, quick, selected, hw, run.settings)
    benchmarks = doc["benchmarks"]
    if selected & {"B3", "B5"}:
        run.run_b3_children()
        if "B3" in selected:
            benchmarks["B3"] = run.b3_section()
    if "B1" in selected:
        benchmarks["B1"] = run.b1_section(hw)
    if selected & {"B2", "B5"}:
        run.run_b2_children()
        if "B2" in selected:
            benchmarks["B2"] = run.b2_section()
    if "B4" in selected:
        benchmarks["B4"] = run.b4_section()
    if "B5" in selected:
        benchmarks["B5"] = run.b5_section()
    doc["total_seconds"] = time.perf_counter() - t_start
    doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return doc


def _resolved_settings(quick: bool, settings: dict[str, Any] | None) -> dict[str, Any]:
    from fusiongym.accelerator.workloads.zoo import zoo_names

    s = dict(QUICK if quick else FULL)
    s.update(settings or {})
    if s["b3_networks"] is None:
        s["b3_networks"] = zoo_names()
    return s


def _new_document(name: str, quick: bool, selected: set[str], hw,
                  settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "name": name, "quick": quick, "only": sorted(selected),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info(),
        "hardware": {"name": hw.name, "num_cores": hw.num_cores,
                     "core_counts": list(hw.allowed_core_counts)},
        "settings": settings, "method": METHOD, "benchmarks": {},
    }


class _SuiteRun:
    """One :func:`run_suite` call: its settings, and what its child processes returned."""

    def __init__(self, settings: dict[str, Any], hw_name: str | None):
        self.settings = settings
        self.hw_name = hw_name
        self.timeout = settings["child_timeout_s"]
        self.oracle_dicts: dict[str, dict] = {}  # network -> oracle schedule (as a dict)
        self.b2_children: dict[str, dict] = {}
        self.b3_children: dict[str, dict] = {}

    def oracle_dict(self, network: str) -> dict:
        """The network's oracle schedule: B3's if it ran, else computed in a child now."""
        if network not in self.oracle_dicts:  # computed in a child, untimed here
            log(f"oracle schedule for {network} (for B1/B2; not a B3 measurement)")
            res = run_child({"task": "b3", "hw": self.hw_name, "network": network,
                             "warm_repeats": 0,
                             "max_group_layers": self.settings["max_group_layers"]},
                            self.timeout)
            if "error" in res:
                raise RuntimeError(f"oracle for {network}: {res['error']}")
            self.oracle_dicts[network] = res["schedule"]
        return self.oracle_dicts[network]

    def run_b3_children(self) -> None:
        s = self.settings
        for network in s["b3_networks"]:
            res = run_child({"task": "b3", "hw": self.hw_name, "network": network,
                             "warm_repeats": s["b3_warm_repeats"],
                             "max_group_layers": s["max_group_layers"]}, self.timeout)
            self.b3_children[network] = res
            if "schedule" in res:
                self.oracle_dicts[network] = res["schedule"]

    def b3_section(self) -> dict[str, Any]:
        s = self.settings
        return {"rows": [
            self.b3_children[n].get("row", {"network": n,
                                            "error": self.b3_children[n].get("error")})
            for n in s["b3_networks"]], "max_group_layers": s["max_group_layers"]}

    def b1_section(self, hw) -> dict[str, Any]:
        from fusiongym.accelerator.schedule import Schedule

        s = self.settings
        if any(c.startswith("oracle") for c in s["b1_configs"]):
            for network in s["b1_networks"]:
                self.oracle_dict(network)
        return b1_event_rate(
            hw, s["b1_networks"], s["b1_configs"], s["b1_repeats"], s["bare_cores"],
            s["bare_instructions"], lambda n: Schedule.from_dict(self.oracle_dict(n)),
            s["max_group_layers"])

    def run_b2_children(self) -> None:
        s = self.settings
        for network in s["b2_networks"]:
            self.b2_children[network] = run_child(
                {"task": "b2", "hw": self.hw_name, "network": network,
                 "repeats": s["b2_repeats"], "oracle": self.oracle_dict(network)}, self.timeout)

    def b2_section(self) -> dict[str, Any]:
        rows = []
        for network, res in self.b2_children.items():
            rows += res.get("rows", [{"network": network, "error": res.get("error")}])
        return {"rows": rows, "repeats": self.settings["b2_repeats"]}

    def b4_section(self) -> dict[str, Any]:
        s = self.settings
        return run_child(
            {"task": "b4", "hw": self.hw_name, "networks": s["b4_networks"],
             "env_steps": s["b4_env_steps"], "warm_repeats": s["b4_warm_repeats"],
             "ppo_steps": s["b4_ppo_steps"],
             "ppo_n_steps": s["b4_ppo_n_steps"], "max_group_layers": s["max_group_layers"]},
            self.timeout)

    def b5_section(self) -> dict[str, Any]:
        """Peak memory of every B2 and B3 child (each ran in its own process)."""
        rows = []
        for bench, children in (("B2", self.b2_children), ("B3", self.b3_children)):
            for network, res in children.items():
                src = res.get("row", res)
                traced = [r.get("traced_peak_mib") for r in res.get("rows", [])]
                rows.append({"benchmark": bench, "network": network,
                             "rss_after_imports_mib": src.get("rss_after_imports_mib"),
                             "peak_rss_mib": src.get("peak_rss_mib"),
                             "traced_peak_mib": max(traced) if traced and None not in traced else None,
                             **({"error": res["error"]} if "error" in res else {})})
        return {"rows": rows}


# ---- reporting --------------------------------------------------------------------------
def _f(x: Any, digits: int = 3) -> Any:
    if isinstance(x, float):
        return round(x, digits) if abs(x) < 1000 else round(x)
    return x if x is not None else "-"


def tables(doc: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) for every benchmark present in ``doc``."""
    out = []
    b = doc["benchmarks"]
    if "B1" in b:
        r = b["B1"]
        rows = [[f"bare synthetic x{x['cores']}", x["instructions"], "-", x["events"],
                 _f(x["seconds"]["median"], 4), round(x["events_per_s"]), "-", "-", "-"]
                for x in r["bare"]]
        for x in r["model"]:
            if "skipped" in x:
                rows.append([f"{x['network']} {x['schedule']}", "skipped", "", "", "", "", "",
                             "", ""])
                continue
            rows.append([f"{x['network']} {x['schedule']}", x["groups"], x["distinct_groups"],
                         x["events"], _f(x["sim_seconds"]["median"], 4), round(x["events_per_s"]),
                         round(x["bare_replay_events_per_s"]), _f(x["ratio_replay"]),
                         _f(x["e2e_seconds"]["median"], 4)])
        rows.append(["**pooled**", "", "", "", "", round(r["model_events_per_s"]),
                     round(r["bare_replay_events_per_s"]), _f(r["ratio_replay"]), ""])
        title = (f"B1 {TITLES['B1']} — ratio model/bare = {r['ratio']:.3f} "
                 f"(target >= {r['target_ratio']}: {'met' if r['meets_target'] else 'NOT met'})")
        out.append((title, ["run", "groups / instr.", "distinct", "events", "sim s",
                            "events/s", "bare replay ev/s", "ratio replay", "e2e cold s"], rows))
    if "B2" in b:
        rows = [[x["network"], x.get("schedule", "-"), x.get("groups", "-"),
                 x.get("sim_calls", "-"), _f(x["seconds"]["median"]) if "seconds" in x else
                 x.get("error"), x.get("latency_cycles", "-")] for x in b["B2"]["rows"]]
        out.append((f"B2 {TITLES['B2']} (median of {b['B2']['repeats']})",
                    ["network", "schedule", "groups", "sim calls", "seconds",
                     "latency cycles"], rows))
    if "B3" in b:
        rows = []
        for x in b["B3"]["rows"]:
            if "error" in x:
                rows.append([x["network"], "error", x["error"], "", "", "", ""])
                continue
            warm = x.get("warm_seconds", {}).get("median")
            rows.append([x["network"], x["layers"], x["candidates"], x["cold_sim_calls"],
                         _f(x["cold_seconds"], 2), _f(warm, 4), x.get("warm_sim_calls", "-")])
        out.append((f"B3 {TITLES['B3']} (max_group_layers={b['B3']['max_group_layers']})",
                    ["network", "layers", "candidates", "sim calls (cold)", "cold s",
                     "warm s", "sim calls (warm)"], rows))
    if "B4" in b:
        x = b["B4"]
        if "error" in x:
            rows = [["error", x["error"], "", "", ""]]
        else:
            rows = [[f"env {k} ({', '.join(x['networks'])})", x["env"][k]["steps"],
                     _f(x["env"][k]["seconds"], 2), _f(x["env"][k]["steps_per_s"], 1),
                     x["env"][k]["sim_calls"]] for k in ("cold", "warm")]
            if "ppo" in x:
                p = x["ppo"]
                rows.append([f"MaskablePPO learn (env {p['env_share']:.0%} of time)",
                             p["timesteps"], _f(p["seconds"], 2), _f(p["steps_per_s"], 1),
                             p["sim_calls"]])
        out.append((f"B4 {TITLES['B4']}", ["run", "steps", "seconds", "steps/s", "sim calls"],
                    rows))
    if "B5" in b:
        rows = [[x["benchmark"], x["network"], _f(x["rss_after_imports_mib"], 1),
                 _f(x["peak_rss_mib"], 1), _f(x.get("traced_peak_mib"), 2)]
                for x in b["B5"]["rows"]]
        out.append((f"B5 {TITLES['B5']}", ["benchmark", "network", "RSS after imports MiB",
                                          "peak RSS MiB", "traced heap peak MiB (B2)"], rows))
    return out


def machine_line(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    dirty = f", uncommitted: {len(m['git_uncommitted'])} model files" if m["git_uncommitted"] else ""
    return (f"{m['cpu_model']}, {m['cpus_usable']} CPUs, Python {m['python']}, SimPy "
            f"{m['simpy']}, git {m['git_head'][:10]}{dirty}, load {m.get('load_average')}; hardware {doc['hardware']['name']}; "
            f"{'quick' if doc['quick'] else 'full'} run, {doc['total_seconds']:.0f} s")


def render(doc: dict[str, Any], markdown: bool) -> str:
    from fusiongym.experiments.cli.output import format_table, markdown_table

    parts = [machine_line(doc)]
    for title, headers, rows in tables(doc):
        if markdown:
            parts.append(f"**{title}**\n\n{markdown_table(headers, rows)}")
        else:
            parts.append(f"{title}\n{format_table(headers, rows)}")
    return "\n\n".join(parts)


# ---- command line -----------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="fewer networks and repeats (under 2 minutes)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the results as JSON")
    fmt.add_argument("--markdown", action="store_true",
                     help="print README-ready Markdown tables")
    parser.add_argument("--only", metavar="B1,B2,...",
                        help=f"run only these benchmarks (of {','.join(BENCHMARKS)})")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="results file (default: benchmarks/results/latest.json)")
    parser.add_argument("--no-save", action="store_true", help="do not write a results file")
    parser.add_argument("--hw", metavar="PRESET_OR_FILE",
                        help="hardware config (default: the mlu100 preset)")


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.fileio import atomic_write_json

    only = parse_only(args.only)
    _hw(args.hw)  # a bad --hw fails here, in one line, before any work
    out = args.out or DEFAULT_OUT
    doc = run_suite(only, quick=args.quick, hw_name=args.hw, name=Path(out).stem)
    if not args.no_save:
        atomic_write_json(out, doc)
        log(f"results written to {out}")
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(render(doc, markdown=args.markdown))
    return 0


def main(argv: list[str] | None = None) -> int:
    from fusiongym.accelerator.errors import UserInputError

    parser = argparse.ArgumentParser(
        prog="python -m fusiongym.benchmarks", description=sys.modules[__package__].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserInputError as err:
        print(f"benchmarks: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchmarks: interrupted", file=sys.stderr)
        return 130
