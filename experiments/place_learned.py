"""Train and evaluate the learned placer (issue 20, parts 6-7), until the ``place`` CLI
gains a ``train`` / ``evaluate`` mode for it::

    python -m experiments.place_learned train experiments/configs/place_quick.yaml --out runs/place_quick
    python -m experiments.place_learned evaluate runs/place_quick

``evaluate`` scores, on every eval chip and held-out workload of the run's config, each
placement by one simulation of all its groups (the answer, never the estimate) against the
sequential oracle placement (each request's oracle schedule, request after request):

- ``sequential``: the sequential oracle placement (ratio 1 by definition);
- ``side-by-side``: the same oracle schedules, requests interleaved group by group;
- ``teacher``: the list teacher the policy imitates (lower bounds only to decide);
- ``ppo``: the policy zero-shot (no simulator call to decide);
- ``ppo-search``: policy-guided search under a budget of whole-placement simulations.

It prints a table of geo-mean makespan ratios (lower is better) and writes every row to
``RUN/evaluations/eval-N.json`` (a new N each time: never overwritten). Bad input: one line,
exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from accelerator.errors import UserInputError
from accelerator.evaluator import default_evaluator
from accelerator.fileio import atomic_write_text
from accelerator.spatial.placement import Placement
from accelerator.spatial.simulate import simulate_placement
from accelerator.workloads.network import WorkloadError

SCHEDULERS = ("sequential", "side-by-side", "teacher", "ppo", "ppo-search")


def evaluate_run(run_dir: Path, log=print) -> dict:
    from agents.placement.learn import (PlaceConfig, geomean, hardware_from_spec,
                                        oracle_reference, place_config_from_dict)
    from agents.placement.policy import PolicyPlacer, PolicySearchPlacer, rollout
    from agents.placement.teacher import ListTeacher
    from envs.placement_env import PlacementEnv, parse_workload

    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise UserInputError(f"{run_dir}: not a run directory (no config.json; train first)")
    raw = json.loads(config_path.read_text())
    cfg = place_config_from_dict(raw, str(config_path))
    assert isinstance(cfg, PlaceConfig)
    slots, m = cfg.env["max_slots"], cfg.env["max_group_layers"]
    zero_shot = PolicyPlacer(run_dir / "model.zip", slots, m)
    search = PolicySearchPlacer(zero_shot.model, slots, m, cfg.search["budget"],
                                cfg.search["samples"], cfg.seed)
    rows = []
    for spec_hw in cfg.eval_hardware:
        hw = hardware_from_spec(spec_hw)
        ev = default_evaluator(hw)
        for set_name, specs in cfg.eval_workloads.items():
            for spec in specs:
                w = parse_workload(spec)
                t0 = time.perf_counter()
                schedules = [oracle_reference(r.network, hw, ev) for r in w.requests]
                found = {"sequential": (Placement.sequential(w, schedules), None),
                         "side-by-side": (Placement.side_by_side(w, schedules), None)}
                env = PlacementEnv([w], hw, slots, m, evaluator=ev, compute_rewards=False)
                teacher = ListTeacher(m)
                found["teacher"] = (rollout(env, lambda o, k: teacher.action(env), w)[0], None)
                found["ppo"] = (zero_shot.place(w, hw, ev), zero_shot)
                found["ppo-search"] = (search.place(w, hw, ev), search)
                makespans = {name: simulate_placement(w, p, hw, ev).makespan_cycles
                             for name, (p, _) in found.items()}
                base = makespans["sequential"]
                row = {"hardware": hw.name, "set": set_name, "workload": w.name,
                       "makespan_cycles": makespans,
                       "ratio": {k: v / base for k, v in makespans.items()},
                       "ppo_sim_calls": zero_shot.sim_calls,
                       "ppo_seconds": round(zero_shot.seconds, 3),
                       "ppo_search_sim_calls": search.sim_calls,
                       "seconds": round(time.perf_counter() - t0, 1)}
                rows.append(row)
                log(f"{hw.name:>10} {set_name:>18} {w.name:<32} " + " ".join(
                    f"{k}={row['ratio'][k]:.3f}" for k in SCHEDULERS)
                    + f"  (ppo sims {zero_shot.sim_calls}, search sims {search.sim_calls})")
    summary = []
    for hw_name in dict.fromkeys(r["hardware"] for r in rows):
        for set_name in dict.fromkeys(r["set"] for r in rows):
            sel = [r for r in rows if r["hardware"] == hw_name and r["set"] == set_name]
            if sel:
                summary.append({"hardware": hw_name, "set": set_name, "workloads": len(sel),
                                **{k: round(geomean(r["ratio"][k] for r in sel), 4)
                                   for k in SCHEDULERS}})
    out = {"rows": rows, "summary": summary}
    folder = run_dir / "evaluations"
    folder.mkdir(exist_ok=True)
    n = 0
    while (folder / f"eval-{n}.json").exists():
        n += 1
    atomic_write_text(folder / f"eval-{n}.json", json.dumps(out, indent=2) + "\n")
    return out


def print_summary(summary: list[dict]) -> None:
    head = f"{'hardware':>10} {'set':>18} {'n':>2} " + " ".join(f"{k:>12}" for k in SCHEDULERS)
    print(head)
    for s in summary:
        print(f"{s['hardware']:>10} {s['set']:>18} {s['workloads']:>2} "
              + " ".join(f"{s[k]:>12.4f}" for k in SCHEDULERS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.place_learned",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="DAgger (+ PPO) on Place-v0 from a config")
    t.add_argument("config")
    t.add_argument("--out", required=True, help="run directory")
    e = sub.add_parser("evaluate", help="zero-shot and search on the held-out workloads")
    e.add_argument("run")
    e.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from agents.placement.learn import load_place_config, train

            cfg = load_place_config(args.config)
            t0 = time.perf_counter()
            path = train(cfg, Path(args.out))
            print(f"model: {path} ({time.perf_counter() - t0:.0f} s)")
        else:
            out = evaluate_run(Path(args.run), log=(lambda s: None) if args.json else print)
            if args.json:
                print(json.dumps(out, indent=2))
            else:
                print_summary(out["summary"])
    except (UserInputError, WorkloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
