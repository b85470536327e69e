"""Train and evaluate the learned placer (issue 20, parts 6-8)::

    python -m fusiongym.experiments.place_learned train experiments/configs/place_quick.yaml --out runs/place_quick
    python -m fusiongym.experiments.place_learned evaluate runs/place_quick
    fusiongym evaluate runs/place_quick --workload resnet18+mobilenet_v1 squeezenet1_1x4 --hw mlu100

``evaluate`` scores, on every chip and workload asked (default: the run config's
``eval_hardware`` x ``eval_workloads``), each scheduler's placement by one simulation of all
its groups (the answer, never the estimate), beside the sequential oracle placement (each
request's oracle schedule, request after request):

- ``sequential``, ``partition``, ``list``: the placement schedulers of
  :mod:`agents.placement.registry` (isolated group simulations to decide);
- ``side-by-side``: the sequential oracle's schedules, requests interleaved group by group;
- ``ppo``: the policy zero-shot (no simulator call to decide);
- ``ppo-search``: policy-guided search under a budget of whole-placement simulations.

Per workload: each makespan, its ratio to the sequential oracle's, its gap to the best known
(the best of these) and to the sound lower bound, and the scheduler's simulator calls and
seconds (calls are misses of one evaluator shared along the row in this order, so the
``sequential`` column pays for the oracle's group simulations the next ones reuse). The table
is the geo-mean ratio per chip and set (lower is better).

Files: the run's own evaluation is ``RUN/eval.json`` / ``eval.md``; any other chip or
workload set gets ``eval_<chip>_<digest>.json`` / ``.md`` beside it, indexed in
``RUN/evals.json`` (:mod:`experiments.orchestration.eval_files`), so no evaluation replaces
a different one. Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.fileio import atomic_write_json, atomic_write_text
from fusiongym.accelerator.workloads.network import WorkloadError

SCHEDULERS = ("sequential", "partition", "list", "side-by-side", "ppo", "ppo-search")
LEARNED = ("ppo", "ppo-search")


def load_workload_spec(spec: str):
    """``a+bx2`` or a workload YAML file."""
    from fusiongym.accelerator.spatial.workload import Workload
    from fusiongym.envs.placement_env import parse_workload

    if spec.endswith((".yaml", ".yml")):
        return Workload.load(spec)
    return parse_workload(spec)


def evaluate_run(run_dir: Path, workloads: list[str] | None = None, hardware: list | None = None,
                 log=print) -> dict:
    """Every scheduler on every (chip, workload); see the module docstring. ``hardware``:
    HardwareConfigs, presets or config entries (default: the run's ``eval_hardware``)."""
    from fusiongym.accelerator.config import HardwareConfig
    from fusiongym.agents.placement.learn import hardware_from_spec
    from fusiongym.agents.placement.placer_run import open_placer_run, sequential_policy
    from fusiongym.agents.placement.policy import PolicyPlacer, PolicySearchPlacer
    from fusiongym.experiments.orchestration import eval_files

    run_dir = Path(run_dir)
    model_path, cfg = open_placer_run(run_dir)
    default = workloads is None and hardware is None
    sets = {"given": list(workloads)} if workloads else cfg.eval_workloads
    chips = [h if isinstance(h, HardwareConfig) else hardware_from_spec(h)
             for h in (hardware or cfg.eval_hardware)]
    parsed = {s: [load_workload_spec(w) for w in specs] for s, specs in sets.items()}
    if not any(parsed.values()):
        raise UserInputError(f"{run_dir}: no workload to evaluate")
    trained_chips = {hardware_from_spec(h).key for h in cfg.hardware}
    trained_workloads = {load_workload_spec(w).content_hash() for w in cfg.train_workloads}
    slots, m = cfg.env["max_slots"], cfg.env["max_group_layers"]
    sequential = sequential_policy(run_dir, cfg)
    zero_shot = PolicyPlacer(model_path, slots, m, sequential)
    search = PolicySearchPlacer(zero_shot.model, slots, m, cfg.search["budget"],
                                cfg.search["samples"], cfg.seed, sequential)
    rows = [score(w, hw, set_name, zero_shot, search, trained_workloads, trained_chips, log)
            for hw in chips for set_name, ws in parsed.items() for w in ws]
    result = {"run": str(run_dir), "schedulers": list(SCHEDULERS),
              "hardware": [hw.name for hw in chips],
              "unseen_hardware": [hw.name for hw in chips if hw.key not in trained_chips],
              "rows": rows, "summary": summarise(rows)}
    if default:
        stem = eval_files.DEFAULT_STEM
    else:
        payload = json.dumps({"hardware": [hw.key for hw in chips],
                              "workloads": {s: [w.content_hash() for w in ws]
                                            for s, ws in parsed.items()}})
        stem = (f"eval_{eval_files.slug('+'.join(hw.name for hw in chips))}_"
                f"{hashlib.sha256(payload.encode()).hexdigest()[:8]}")
    json_path, md_path = eval_files.file_pair(run_dir, stem)
    atomic_write_json(json_path, result)
    atomic_write_text(md_path, render_markdown(result))
    eval_files.record(run_dir, {"json": json_path.name, "markdown": md_path.name,
                                "hardware": result["hardware"],
                                "workloads": {s: [w.name for w in ws] for s, ws in parsed.items()},
                                "default": default})
    result["files"] = [str(json_path), str(md_path)]
    return result


def score(w, hw, set_name, zero_shot, search, trained_workloads, trained_chips, log) -> dict:
    """One row: every scheduler's placement of ``w`` on ``hw``, simulated."""
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
    from fusiongym.accelerator.spatial.placement import Placement
    from fusiongym.accelerator.spatial.simulate import simulate_placement
    from fusiongym.agents.placement.registry import make_placement_scheduler
    from fusiongym.agents.placement.simple import oracle_schedules

    ev = default_evaluator(hw)
    found: dict[str, tuple] = {}
    for name in ("sequential", "partition", "list"):
        s = make_placement_scheduler(name)
        found[name] = (s.place(w, hw, ev), s.sim_calls, s.seconds)
    t0, before = time.perf_counter(), ev.sim_calls
    side = Placement.side_by_side(w, oracle_schedules(w, hw, ev))
    found["side-by-side"] = (side, ev.sim_calls - before, time.perf_counter() - t0)
    chosen = {}
    for placer in (zero_shot, search):
        found[placer.name] = (placer.place(w, hw, ev), placer.sim_calls, placer.seconds)
        chosen[placer.name] = placer.info.get("chosen")
    makespans = {k: simulate_placement(w, p, hw, ev).makespan_cycles
                 for k, (p, _, _) in found.items()}
    bound = int(makespan_lower_bound(w, hw, ev).makespan_cycles)
    base, best = makespans["sequential"], min(makespans.values())
    results = {k: {"makespan_cycles": int(makespans[k]),
                   "ratio_to_sequential": makespans[k] / base,
                   "gap_to_best": makespans[k] / best - 1.0,
                   "gap_to_bound": makespans[k] / bound - 1.0 if bound else None,
                   "sim_calls": int(found[k][1]), "seconds": round(float(found[k][2]), 3)}
               for k in SCHEDULERS}
    for k, source in chosen.items():  # which candidate the learned placer returned
        results[k]["chosen"] = source
    row = {"hardware": hw.name, "unseen_hardware": hw.key not in trained_chips,
           "set": set_name, "workload": w.name, "requests": len(w),
           "seen_in_training": w.content_hash() in trained_workloads,
           "lower_bound_cycles": bound, "best_known_cycles": int(best),
           "best_known_by": [k for k in SCHEDULERS if makespans[k] == best], "results": results}
    log(f"{hw.name:>10} {set_name:>18} {w.name:<36} " + " ".join(
        f"{k}={results[k]['ratio_to_sequential']:.3f}" for k in SCHEDULERS)
        + f"  (ppo sims {results['ppo']['sim_calls']})")
    return row


def geomean(values) -> float:
    from fusiongym.agents.placement.learn import geomean as g

    return g(values)


def summarise(rows: list[dict]) -> list[dict]:
    """Per (chip, set): geo-mean ratio to the sequential oracle and gap to the best known,
    mean simulator calls and seconds, per scheduler."""
    out = []
    for hw_name in dict.fromkeys(r["hardware"] for r in rows):
        for set_name in dict.fromkeys(r["set"] for r in rows):
            sel = [r for r in rows if r["hardware"] == hw_name and r["set"] == set_name]
            if not sel:
                continue
            entry = {"hardware": hw_name, "set": set_name, "workloads": len(sel),
                     "unseen_hardware": sel[0]["unseen_hardware"]}
            for k in SCHEDULERS:
                res = [r["results"][k] for r in sel]
                entry[k] = {"geomean_ratio": round(geomean(x["ratio_to_sequential"] for x in res), 4),
                            "geomean_gap_to_best": round(geomean(1 + x["gap_to_best"] for x in res) - 1, 4),
                            "mean_sim_calls": round(sum(x["sim_calls"] for x in res) / len(res), 1),
                            "mean_seconds": round(sum(x["seconds"] for x in res) / len(res), 3)}
            out.append(entry)
    return out


def render_text(result: dict) -> str:
    from fusiongym.experiments.cli.output import format_table

    head = ["chip", "set", "n"] + [f"{k}" for k in SCHEDULERS]
    rows = [[s["hardware"] + (" (unseen)" if s["unseen_hardware"] else ""), s["set"],
             s["workloads"]] + [f"{s[k]['geomean_ratio']:.3f}" for k in SCHEDULERS]
            for s in result["summary"]]
    cost = [[s["hardware"], s["set"]] + [f"{s[k]['mean_sim_calls']:g} / {s[k]['mean_seconds']:.2f}"
                                         for k in SCHEDULERS] for s in result["summary"]]
    return ("geo-mean makespan / sequential oracle makespan (lower is better)\n"
            + format_table(head, rows) + "\n\nmean simulator calls / seconds per workload\n"
            + format_table(["chip", "set"] + list(SCHEDULERS), cost))


def render_markdown(result: dict) -> str:
    lines = ["| chip | set | workload | " + " | ".join(SCHEDULERS) + " | best known | bound |",
             "|---|---|---|" + "---:|" * (len(SCHEDULERS) + 2)]
    for r in result["rows"]:
        cells = [f"{r['results'][k]['ratio_to_sequential']:.3f} "
                 f"({r['results'][k]['sim_calls']} sims, {r['results'][k]['seconds']:.2f} s)"
                 for k in SCHEDULERS]
        lines.append(f"| {r['hardware']} | {r['set']} | {r['workload']}"
                     + ("*" if r["seen_in_training"] else "") + " | " + " | ".join(cells)
                     + f" | {r['best_known_cycles']:,} | {r['lower_bound_cycles']:,} |")
    lines += ["", "| chip | set | n | " + " | ".join(SCHEDULERS) + " |",
              "|---|---|---:|" + "---:|" * len(SCHEDULERS)]
    for s in result["summary"]:
        lines.append(f"| {s['hardware']}{' (unseen)' if s['unseen_hardware'] else ''} | "
                     f"{s['set']} | {s['workloads']} | "
                     + " | ".join(f"{s[k]['geomean_ratio']:.3f}" for k in SCHEDULERS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.experiments.place_learned",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="DAgger (+ PPO) on Place-v0 from a config")
    t.add_argument("config")
    t.add_argument("--out", required=True, help="run directory")
    e = sub.add_parser("evaluate", help="every placement scheduler beside the learned placer")
    e.add_argument("run")
    e.add_argument("--workload", nargs="+", metavar="NET[xK][+NET..]|FILE.yaml",
                   help="workloads to evaluate (default: the config's eval_workloads)")
    e.add_argument("--hw", nargs="+", help="chips: presets, YAML files or PRESET:CORES "
                                           "(default: the config's eval_hardware)")
    e.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from fusiongym.agents.placement.learn import load_place_config, train

            cfg = load_place_config(args.config)
            t0 = time.perf_counter()
            train_sequential(cfg, Path(args.out))
            path = train(cfg, Path(args.out))
            print(f"model: {path} ({time.perf_counter() - t0:.0f} s)")
        else:
            return evaluate_command(Path(args.run), args.workload, args.hw, args.json)
    except (UserInputError, WorkloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def train_sequential(cfg, out: Path) -> None:
    """The sequential policy the config names, trained into ``out/sequential/`` (kept, not
    retrained, when a model is already there: a second ``train`` resumes the placer's)."""
    from fusiongym.agents.placement.placer_run import SEQUENTIAL_DIR
    from fusiongym.experiments.orchestration.config import load_experiment
    from fusiongym.experiments.orchestration.runner import train as train_tuner

    name = cfg.sequential["config"]
    if not name:
        return
    seq_dir = out / SEQUENTIAL_DIR
    if (seq_dir / "model.zip").is_file():
        print(f"sequential policy: {seq_dir / 'model.zip'} (kept)", file=sys.stderr)
        return
    tuner = load_experiment(name)
    t0 = time.perf_counter()
    train_tuner(tuner, seq_dir, resume=(seq_dir / "config.yaml").is_file(), progress=False,
                log=lambda s: print(s, file=sys.stderr))
    print(f"sequential policy: {seq_dir / 'model.zip'} ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)


def chip(spec: str):
    """A preset, a hardware file, or ``PRESET:CORES`` (the preset on that many cores, like a
    config's ``{preset, num_cores}`` entry: ``mlu100:8`` is ``mlu100-8c``)."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.agents.placement.learn import hardware_from_spec

    preset, sep, cores = spec.rpartition(":")
    if sep and preset and not Path(spec).exists():
        if not cores.isdigit() or int(cores) < 1:
            raise UserInputError(f"--hw {spec}: PRESET:CORES needs a positive core count")
        return hardware_from_spec({"preset": preset, "num_cores": int(cores)}, f"--hw {spec}")
    return load_config(spec)


def evaluate_command(run: Path, workloads, hw_specs, as_json: bool) -> int:
    """What ``fusiongym evaluate PLACER_RUN`` and ``... place_learned evaluate`` print."""
    hardware = [chip(h) for h in hw_specs] if hw_specs else None
    log = (lambda s: None) if as_json else (lambda s: print(s, file=sys.stderr))
    out = evaluate_run(run, workloads, hardware, log=log)
    files = out.pop("files")
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        print(render_text(out))
        print(f"\nwritten: {files[0]}, {files[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
