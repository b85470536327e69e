"""cProfile one cold workload: ``python -m fusiongym.benchmarks.profile WHAT NETWORK [--top 20]``.

WHAT is ``nofusion@C`` (evaluate the no-fusion schedule on C cores), ``oracle`` (the exact
oracle, max_group_layers 8) or ``env`` (200 random masked FusionEnv steps). Everything
starts cold (:func:`benchmarks.common.cold_reset`, new evaluator). Prints the top
functions by tottime and the share of time spent inside SimPy's own code.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time


def _workload(what: str, network: str, hw_name: str | None):
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
    from fusiongym.accelerator.schedule import Schedule
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.benchmarks.common import cold_reset

    hw = load_config(hw_name)
    net = get_network(network)
    cold_reset()
    ev = GroupEvaluator(hw)
    if what.startswith("nofusion@"):
        sched = Schedule.no_fusion(net, int(what.split("@")[1]))
        return lambda: evaluate(net, sched, hw, ev), ev
    if what == "oracle":
        from fusiongym.agents.oracle import OracleScheduler

        oracle = OracleScheduler(max_group_layers=8, progress=False, evaluator=ev)
        return lambda: oracle.schedule(net, hw), ev
    if what == "env":
        from fusiongym.benchmarks.suite import _env_pass
        from fusiongym.envs.fusion_env import FusionEnv

        env = FusionEnv([net], hw=hw, evaluator=ev)
        return lambda: _env_pass(env, 200, 0), ev
    raise SystemExit(f"unknown workload {what!r} (nofusion@C, oracle, env)")


def _by_package(stats: pstats.Stats) -> dict[str, float]:
    """tottime per source area: simpy, our packages, the rest."""
    shares: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "/simpy/" in filename:
            area = "simpy"
        elif any(f"/{p}/" in filename for p in ("accelerator", "agents", "envs", "benchmarks")):
            area = filename.rsplit("/", 2)[-2] + "/" + filename.rsplit("/", 1)[-1]
        else:
            area = "other (stdlib, builtins, numpy...)"
        shares[area] = shares.get(area, 0.0) + tottime
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.benchmarks.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", help="nofusion@C | oracle | env")
    parser.add_argument("network")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--hw", default=None)
    parser.add_argument("--out", help="also dump the raw profile here (pstats format)")
    args = parser.parse_args(argv)
    fn, ev = _workload(args.what, args.network, args.hw)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    fn()
    profiler.disable()
    wall = time.perf_counter() - t0
    if args.out:
        profiler.dump_stats(args.out)
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{args.what} {args.network}: {wall:.2f} s under cProfile, {ev.sim_calls} sim calls, "
          f"profiled total {total:.2f} s")
    print("\ntottime by area:")
    for area, t in _by_package(stats).items():
        print(f"  {t:8.2f} s  {100 * t / total:5.1f}%  {area}")
    stats.sort_stats("tottime").print_stats(args.top)
    print(buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
