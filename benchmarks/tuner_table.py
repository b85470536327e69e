"""The README's held-out tables of a trained run, from its evaluation files.

``python -m fusiongym.benchmarks.tuner_table RUN_DIR`` reads ``eval.json`` and every other
evaluation (``evals.json``'s index, or an older run's ``eval-<hardware>.json``) that ``fusiongym evaluate RUN_DIR [--hw ...]`` wrote and prints, as
markdown: the geo-mean ratio to the oracle and total simulator calls of every scheduler on
each hardware config (one column pair per config), then the per-network ratios of the
zero-simulation schedulers. Nothing is recomputed: the numbers are the evaluation's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PER_NETWORK = ("ppo", "bound-dp", "heuristic", "cost-model-dp")


def load_evaluations(run_dir: Path) -> list[dict]:
    """The run's own evaluation first, then the others (evals.json's index, older
    ``eval-<hw>.json`` files). Only evaluations over the run's own network set go in one
    table: an evaluation of other networks has other rows."""
    from fusiongym.experiments.orchestration.eval_files import evaluation_files

    found = [json.loads(p.read_text()) for p in evaluation_files(run_dir)]
    if found:
        found = [e for e in found if e.get("networks") == found[0].get("networks")]
    if not found:
        raise FileNotFoundError(f"{run_dir}: no eval.json / eval-*.json (run fusiongym evaluate)")
    return found


def summary_table(evaluations: list[dict]) -> str:
    head = "| scheduler | " + " | ".join(f"{e['hardware']} | calls" for e in evaluations) + " |"
    rule = "|---|" + "---:|---:|" * len(evaluations)
    order = [row["scheduler"] for row in evaluations[0]["summary"]]
    lines = [head, rule]
    for name in order:
        cells = []
        for e in evaluations:
            row = next((r for r in e["summary"] if r["scheduler"] == name), None)
            cells += ["-", "-"] if row is None else [f"{row['geomean_ratio_to_oracle']:.3f}",
                                                    str(row["total_sim_calls"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_network_table(evaluations: list[dict]) -> str:
    head = "| network | " + " | ".join(e["hardware"] for e in evaluations) + " |"
    lines = [head, "|---|" + "---|" * len(evaluations),
             "| (schedulers) | " + " | ".join([" / ".join(PER_NETWORK)] * len(evaluations)) + " |"]
    for net in evaluations[0]["networks"]:
        cells = []
        for e in evaluations:
            ratios = {r["scheduler"]: r["ratio_to_oracle"] for r in e["results"]
                      if r["network"] == net}
            cells.append(" / ".join(f"{ratios[s]:.3f}" if s in ratios else "-" for s in PER_NETWORK))
        lines.append(f"| {net} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.benchmarks.tuner_table", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        evaluations = load_evaluations(args.run_dir)
    except (OSError, ValueError, KeyError) as err:
        print(f"tuner_table: error: {err}", file=sys.stderr)
        return 2
    print(summary_table(evaluations))
    print()
    print(per_network_table(evaluations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
