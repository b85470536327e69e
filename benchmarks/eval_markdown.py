"""An ``eval.md`` table back into the ``eval.json`` that ``fusiongym plot run`` reads.

The published evaluations are kept in the repository as markdown (``docs/results/``); the
run directories they came from are not. This redraws their plots from the published
numbers, nothing recomputed::

    python -m fusiongym.benchmarks.eval_markdown docs/results/quick_eval_mlu100.md RUN_DIR
    fusiongym plot run RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HEADER = "| network | scheduler | latency (cycles) | ratio to oracle |"


def parse(text: str) -> dict:
    """The evaluation of one ``render_markdown`` page (the per-network table)."""
    lines = text.splitlines()
    title = re.match(r"# Evaluation of (.+) on (\S+) \((\w+)\)", lines[0] if lines else "")
    if title is None or not any(ln.startswith(HEADER) for ln in lines):
        raise ValueError("not an evaluation page of `fusiongym evaluate` (eval.md)")
    start = next(i for i, ln in enumerate(lines) if ln.startswith(HEADER)) + 2
    results, networks = [], []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        net, sched, lat, ratio, speedup, calls, groups, secs = [c.strip() for c in ln.strip("|").split("|")]
        net = net.removesuffix(" *")  # a training network, marked by evaluate
        if net not in networks:
            networks.append(net)
        results.append({"network": net, "scheduler": sched, "latency_cycles": int(lat),
                        "ratio_to_oracle": float(ratio),
                        "speedup_vs_no_fusion": float(speedup.rstrip("x")),
                        "sim_calls": int(calls), "groups": int(groups),
                        "wall_seconds": float(secs)})
    return {"run": title[1], "hardware": title[2], "objective": title[3],
            "networks": networks, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.benchmarks.eval_markdown",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("markdown", type=Path)
    parser.add_argument("run_dir", type=Path, help="where eval.json is written")
    args = parser.parse_args(argv)
    try:
        evaluation = parse(args.markdown.read_text())
    except (OSError, ValueError) as err:
        print(f"eval_markdown: error: {args.markdown}: {err}", file=sys.stderr)
        return 2
    args.run_dir.mkdir(parents=True, exist_ok=True)
    (args.run_dir / "eval.json").write_text(json.dumps(evaluation, indent=2) + "\n")
    print(args.run_dir / "eval.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
