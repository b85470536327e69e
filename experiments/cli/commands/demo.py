"""fusiongym demo: the main job on built-in defaults (what `make demo` runs).

Lists the zoo, trains the quick config (resuming if runs/demo already holds it), evaluates
it against the baselines and the oracle on held-out networks, and writes the plots.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train the quick config, evaluate it, plot (make demo)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--config", default="quick")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusiongym.experiments.orchestration.config import load_experiment
    from fusiongym.experiments.orchestration.runner import evaluate_run, render_text, train

    def say(msg: str) -> None:
        print(f"\n== {msg}", flush=True)

    progress = not args.no_progress and sys.stderr.isatty()
    cfg = load_experiment(args.config)
    say(f"training {cfg.name}: {cfg.ppo.n_timesteps} timesteps on {', '.join(cfg.train_networks)}")
    # a second `make demo` continues (or reuses) the first one's run instead of refusing
    train(cfg, args.out, resume=(args.out / "config.yaml").exists(), progress=progress,
          log=lambda m: print(m, file=sys.stderr))
    say(f"evaluating on held-out networks: {', '.join(cfg.eval_networks)}")
    result = evaluate_run(args.out, progress=progress, log=lambda m: print(m, file=sys.stderr))
    print(render_text(result))
    if importlib.util.find_spec("fusiongym.experiments.plots") is not None:
        from fusiongym.experiments.plots.training import plot_run
        say("plots")
        for path in plot_run(args.out):
            print(path)
    say(f"done: {args.out}/eval.md")
    return 0
