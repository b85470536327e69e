"""One benchmark task in a fresh interpreter: ``python -m fusiongym.benchmarks.child '<task JSON>'``.

The parent (:func:`benchmarks.common.run_child`) reads the last stdout line,
``BENCH-RESULT <JSON>``. A fresh process means cold process-wide caches and a peak RSS
that belongs to this task alone.
"""

from __future__ import annotations

import json
import sys
import traceback

from fusiongym.benchmarks.common import RESULT_PREFIX


def _run(task: dict) -> dict:
    from fusiongym.benchmarks import suite

    kind = task["task"]
    if kind == "b2":
        return suite.b2_network(task["hw"], task["network"], task["repeats"], task["oracle"])
    if kind == "b3":
        return suite.b3_network(task["hw"], task["network"], task["warm_repeats"],
                                task["max_group_layers"])
    if kind == "b4":
        return suite.b4_throughput(task["hw"], task["networks"], task["env_steps"],
                                   task["ppo_steps"], task["ppo_n_steps"],
                                   task["max_group_layers"], task.get("warm_repeats", 1))
    raise ValueError(f"unknown task {kind!r}")


def main() -> int:
    task = json.loads(sys.argv[1])
    try:
        result = _run(task)
    except Exception as err:  # reported in the results file, the suite goes on
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
