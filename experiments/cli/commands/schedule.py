"""``fusiongym schedule``: any scheduler on one network, saved as a schedule export.

``--save FILE`` writes the versioned export (``docs/schema/schedule-v1.schema.json``: per
group its layers and ONNX nodes, cores, the lowering's plan, expected cycles, DRAM bytes,
energy, and the hardware by content hash); ``fusiongym simulate --schedule FILE`` replays
it. ``--emit-program DIR`` also writes every group's per-core instruction streams
(``docs/program-format.md``). The learned schedulers need a trained run (``--run``): ppo and
ppo-search its policy, cost-model-dp its cost model (trained and kept in the run directory
on first use). ``fusiongym oracle`` is the shorthand for ``--scheduler oracle``.

Examples::

    fusiongym schedule --scheduler heuristic --network resnet18 --save r18.json
    fusiongym schedule --scheduler bound-dp --onnx model.onnx --hw pynq --save m.json
    fusiongym schedule --scheduler ppo --run runs/quick --network mobilenet_v2 --save m.json
    fusiongym schedule --scheduler oracle --network resnet18 --save r18.json --emit-program r18/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.objectives import ADDITIVE_OBJECTIVES
from fusiongym.experiments.cli.arguments import add_hw, add_network_source

SCHEDULER_CHOICES = ("oracle", "heuristic", "bound-dp", "cost-model-dp", "ppo", "ppo-search",
                     "no-fusion")
NEEDS_RUN = ("cost-model-dp", "ppo", "ppo-search")


def add_export_outputs(parser: argparse.ArgumentParser) -> None:
    """``--save`` (the export), ``--emit-program``, ``--json``: shared with ``oracle``."""
    parser.add_argument("--save", metavar="FILE.json",
                        help="write the schedule export (versioned JSON, atomically); replay "
                             "it with `fusiongym simulate --schedule FILE.json`")
    parser.add_argument("--emit-program", metavar="DIR",
                        help="also write every group's per-core instruction streams into DIR "
                             "(program.json + one .jsonl per group and core)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "schedule", help="run any scheduler on a network and save a schedule export",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", choices=SCHEDULER_CHOICES, required=True)
    parser.add_argument("--run", dest="run_dir", type=Path, metavar="RUN_DIR",
                        help=f"a trained run directory (needed by {', '.join(NEEDS_RUN)})")
    add_network_source(parser, "a built-in network or synthetic:SEED[:NLAYERS[:KIND]]")
    add_hw(parser)
    parser.add_argument("--max-group-layers", type=int, default=None, metavar="N",
                        help="longest fused group (default: the run's, else 8)")
    parser.add_argument("--objective", choices=ADDITIVE_OBJECTIVES, default=None,
                        help="what to minimise (default: the run's, else latency)")
    parser.add_argument("--budget-sim-calls", type=int, default=100, metavar="N",
                        help="ppo-search: simulator calls it may spend (default: 100)")
    add_export_outputs(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def _make(args: argparse.Namespace, hw, evaluator):
    """The scheduler, built from the run directory where it needs one (torch and SB3 are
    imported only here, only for ppo / ppo-search)."""
    from fusiongym.agents import make_scheduler

    name = args.scheduler
    if name in NEEDS_RUN and args.run_dir is None:
        raise UserInputError(f"--scheduler {name} needs --run RUN_DIR (a trained run)")
    if name not in NEEDS_RUN and args.run_dir is not None:
        raise UserInputError(f"--run is only used by {', '.join(NEEDS_RUN)}, not {name}")
    cfg = None
    if args.run_dir is not None:
        from fusiongym.experiments.orchestration.runner import _open_run

        cfg = _open_run(args.run_dir)
    max_layers = (args.max_group_layers if args.max_group_layers is not None
                  else cfg.env.max_group_layers if cfg else 8)
    if max_layers < 1:
        raise UserInputError(f"--max-group-layers must be >= 1, got {max_layers}")
    objective = args.objective or (cfg.env.objective if cfg else "latency")
    if objective not in ADDITIVE_OBJECTIVES:
        raise UserInputError(f"{args.run_dir}: objective {objective!r} is not a sum over groups")
    common = {"max_group_layers": max_layers, "objective": objective, "evaluator": evaluator}
    quiet = args.no_progress or args.json
    if name == "no-fusion":
        return make_scheduler(name, evaluator=evaluator)
    if name == "oracle":
        return make_scheduler(name, progress=False if quiet else None, **common)
    if name in ("heuristic", "bound-dp"):
        return make_scheduler(name, **common)
    env_kwargs = {**cfg.env.model_dump(), "max_group_layers": max_layers}
    if name == "cost-model-dp":
        from fusiongym.accelerator.workloads.loader import load_network
        from fusiongym.agents.cost_model import ensure_cost_model
        from fusiongym.experiments.orchestration.hardware_pool import training_hardware

        model, _ = ensure_cost_model(
            args.run_dir / "cost_model.npz", [load_network(n) for n in cfg.train_networks],
            training_hardware(cfg), cfg.env.max_group_layers, seed=cfg.seed,
            progress=not quiet and sys.stderr.isatty(),
            log=lambda m: print(m, file=sys.stderr))
        return make_scheduler(name, model=model, **common)
    from fusiongym.agents.ppo import PPOScheduler

    policy = PPOScheduler(args.run_dir / "model.zip", env_kwargs=env_kwargs, evaluator=evaluator)
    if name == "ppo":
        return policy
    if args.budget_sim_calls < 0:
        raise UserInputError(f"--budget-sim-calls must be >= 0, got {args.budget_sim_calls}")
    return make_scheduler(name, policy=policy, env_kwargs=env_kwargs, seed=cfg.seed,
                          budget_sim_calls=args.budget_sim_calls, **common)


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.experiments.cli.schedule_output import load_cli_network, report

    loaded = load_cli_network(args)
    hw = load_config(args.hw)
    evaluator = default_evaluator(hw)
    scheduler = _make(args, hw, evaluator)
    schedule = scheduler.schedule(loaded[0], hw)
    return report(args, loaded, hw, evaluator, schedule, args.scheduler, scheduler.last_cost)
