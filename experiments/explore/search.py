"""Searching a design space: grid, random and NSGA-II (Optuna), over candidates that fit.

Every method sees only what the evaluations give; the resource model (analytic, free)
drops a candidate over its board's or budget's limits before any scheduling:

- ``grid``: every candidate that fits;
- ``random``: ``budget`` distinct fitting candidates drawn with the seed;
- ``nsga2``: Optuna's NSGA-II sampler (``optuna.samplers.NSGAIISampler``) over the knobs as
  categorical parameters, one generation (``population`` trials) asked at a time and
  evaluated as a batch (so Ray can run it in parallel), told in the order asked (so the
  result does not depend on which worker finished first). A candidate over budget is told
  as infeasible (a positive ``Trial.set_constraint`` value) and never scheduled; a repeat is
  answered from the journal. The run stops at ``budget`` distinct evaluations.

Optuna rather than pymoo: its NSGA-II handles categorical knobs and constraints natively through ask/tell, it is a
small pure-Python install that is actively maintained, and its samplers are seeded and
deterministic; pymoo's NSGA-II needs a custom integer/categorical encoding of these knobs
and pulls in compiled extensions.

Evaluations run in this process or, with ``num_workers``, as Ray tasks; either way each
finished one is journaled at once (:class:`~experiments.explore.evaluate.Journal`), and
groups are shared through one on-disk store.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.resources import FpgaReport, peak_power_w
from fusiongym.accelerator.store import GroupStore
from fusiongym.experiments.explore.evaluate import Evaluation, Journal, evaluate_candidate
from fusiongym.experiments.explore.space import OBJECTIVES, Candidate, DesignSpace

METHODS = ("grid", "random", "nsga2")
INFEASIBLE = 1e30  # what an over-budget trial is told (it is also marked infeasible)


@dataclass
class Record:
    """One evaluated candidate: knobs, cost, latency per network, objective values."""

    candidate: Candidate
    evaluation: Evaluation
    resources: dict
    peak_gops: float
    objectives: dict[str, float]  # natural sign (peak_gops is large-is-good)

    @property
    def key(self) -> str:
        return self.candidate.key

    def vector(self, names: list[str]) -> tuple[float, ...]:
        """Minimisation vector (maximised objectives negated)."""
        return tuple(self.objectives[n] if OBJECTIVES[n] == "min" else -self.objectives[n]
                     for n in names)


@dataclass
class ExploreStats:
    evaluated: int = 0  # evaluations run in this call (not from the journal)
    from_journal: int = 0
    dropped_over_budget: int = 0  # proposals the resource model refused (not scheduled)
    sim_calls: int = 0
    seconds: float = 0.0
    trials: int = 0  # nsga2: trials asked


class Interrupted(Exception):
    """Raised by ``stop_after`` (tests): what a kill does, minus the process dying."""


class Explorer:
    """Evaluates candidates of one space: journal first, then here or on Ray."""

    def __init__(self, space: DesignSpace, run_dir: str | Path, num_workers: int | None = None,
                 ray_address: str | None = None, progress: bool | None = None,
                 stop_after: int | None = None):
        self.space = space
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.run_dir / "journal.jsonl")
        self.store_path = self.run_dir / "groups.sqlite"
        GroupStore(self.store_path).close()  # integrity-checked once, here (one-line error)
        self.num_workers = num_workers
        self.ray_address = ray_address
        self.progress = progress
        self.stop_after = stop_after  # raise Interrupted after this many fresh evaluations
        self.stats = ExploreStats()
        self._ray = None

    # ---- evaluation -------------------------------------------------------------------
    def evaluate(self, candidates: list[Candidate], scheduler: str | None = None,
                 label: str = "explore") -> list[Evaluation]:
        """Evaluations of ``candidates`` (in order): journaled ones read, the rest run."""
        scheduler = scheduler or self.space.spec.scheduler
        todo = list(dict.fromkeys(c for c in candidates
                                  if self.journal.get(c.key, scheduler) is None))
        self.stats.from_journal += len({c.key for c in candidates}) - len(todo)
        if todo:
            bar = _bar(len(todo), label, self.progress)
            try:
                if self.num_workers:
                    self._run_on_ray(todo, scheduler, bar)
                else:
                    for c in todo:
                        self._finish(evaluate_candidate(self.space, c, scheduler, self.store_path), bar)
            finally:
                if bar is not None:
                    bar.close()
        return [self.journal.get(c.key, scheduler) for c in candidates]  # type: ignore[misc]

    def _finish(self, e: Evaluation, bar) -> None:
        self.journal.add(e)
        self.stats.evaluated += 1
        self.stats.sim_calls += e.sim_calls
        self.stats.seconds += e.seconds
        if bar is not None:
            bar.update(1)
        if self.stop_after is not None and self.stats.evaluated >= self.stop_after:
            raise Interrupted(f"stopped after {self.stats.evaluated} evaluations")

    def _run_on_ray(self, todo: list[Candidate], scheduler: str, bar) -> None:
        ray = self._ray_module()
        remote = ray.remote(evaluate_candidate)
        space_ref = ray.put(self.space)
        queued = list(reversed(todo))
        pending: dict = {}
        try:
            while queued or pending:
                while queued and len(pending) < 2 * self.num_workers:
                    c = queued.pop()
                    pending[remote.remote(space_ref, c, scheduler, str(self.store_path))] = c
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    pending.pop(ref)
                    self._finish(ray.get(ref), bar)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def _ray_module(self):
        if self._ray is None:
            raise UserInputError("internal: Ray session not open (use `with explorer.session()`)")
        return self._ray

    def session(self):
        """A context that opens Ray for ``num_workers`` (a no-op without workers)."""
        from contextlib import contextmanager, nullcontext

        if not self.num_workers:
            return nullcontext(self)

        @contextmanager
        def ctx():
            from fusiongym.experiments.parallel.ray_session import ray_session
            with ray_session(self.ray_address, self.num_workers, what="explore --num-workers",
                             alternative="drop --num-workers") as ray:
                self._ray = ray
                try:
                    yield self
                finally:
                    self._ray = None
        return ctx()

    # ---- records ----------------------------------------------------------------------
    def record(self, c: Candidate, e: Evaluation) -> Record:
        space = self.space
        hw = space.hardware(c)
        report, _ = space.cost(c, hw)
        weights = {w.network: w.weight for w in space.spec.workloads}
        total_w = sum(weights.values())
        latency_ms = sum(weights[n.network] * n.latency_ms for n in e.networks) / total_w
        energies = [n.energy_pj for n in e.networks]
        energy_mj = (sum(weights[n.network] * n.energy_pj for n in e.networks) / total_w * 1e-9
                     if None not in energies else float("nan"))
        peak_gops = 2 * hw.peak_macs_per_cycle * hw.clock_mhz / 1e3
        power = peak_power_w(hw)
        if isinstance(report, FpgaReport):
            resources = {"bram36": report.bram36, "dsp": report.dsp, "luts": report.luts,
                         "ffs": report.ffs, "lut_macs": report.lut_macs,
                         "gemm_stages": report.gemm_stages, "fmax_mhz": round(report.fmax_mhz, 1),
                         "utilisation": round(report.max_utilisation, 4)}
        else:
            resources = {"area_mm2": round(report.area_mm2, 3),
                         "peak_power_w": round(report.peak_power_w, 2)}
        values = {"latency_ms": latency_ms, "energy_mj": energy_mj,
                  "peak_gops": peak_gops, "power_w": power, "gops_per_w": peak_gops / power,
                  **{k: float(resources[k]) for k in ("utilisation", "luts", "dsp", "bram36",
                                                        "area_mm2") if k in resources}}
        return Record(c, e, resources, peak_gops, {n: values[n] for n in space.objectives})


def run_search(explorer: Explorer, method: str, budget: int | None = None, seed: int = 0,
               population: int = 16) -> list[Record]:
    """The records the method evaluated (see the module docstring)."""
    space = explorer.space
    t0 = time.perf_counter()
    fitting = space.fitting()
    if method == "grid":
        chosen = fitting if budget is None else fitting[:budget]
        evals = explorer.evaluate(chosen)
        records = [explorer.record(c, e) for c, e in zip(chosen, evals)]
    elif method == "random":
        if budget is None:
            raise UserInputError("--method random needs --budget N")
        rng = random.Random(seed)
        chosen = rng.sample(fitting, min(budget, len(fitting)))
        evals = explorer.evaluate(chosen)
        records = [explorer.record(c, e) for c, e in zip(chosen, evals)]
    elif method == "nsga2":
        if budget is None:
            raise UserInputError("--method nsga2 needs --budget N")
        records = _nsga2(explorer, budget, seed, population)
    else:
        raise UserInputError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    explorer.stats.seconds = time.perf_counter() - t0
    return records


def _nsga2(explorer: Explorer, budget: int, seed: int, population: int) -> list[Record]:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = explorer.space
    names = space.objectives
    dists = {k: CategoricalDistribution(v) for k, v in space.choices.items()}
    # constraints: a trial with a positive "over_budget" value is infeasible (Trial.set_constraint)
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["minimize"] * len(names), sampler=sampler)
    fitting_keys = {c.key for c in space.fitting()}
    seen: dict[str, Record] = {}
    max_trials = 50 * budget
    while len(seen) < budget and explorer.stats.trials < max_trials:
        trials, cands = [], []
        for _ in range(population):
            trial = study.ask(dists)
            c = Candidate(tuple((k, trial.params[k]) for k in space.choices))
            trials.append(trial)
            cands.append(c)
        explorer.stats.trials += len(trials)
        new = [c for c in dict.fromkeys(cands) if c.key in fitting_keys and c.key not in seen]
        new = new[:budget - len(seen)]
        for c, e in zip(new, explorer.evaluate(new)):
            seen[c.key] = explorer.record(c, e)
        for trial, c in zip(trials, cands):
            if c.key not in fitting_keys:
                explorer.stats.dropped_over_budget += 1
                trial.set_constraint("over_budget", 1.0)
                study.tell(trial, [INFEASIBLE] * len(names))
            elif c.key in seen:
                trial.set_constraint("over_budget", 0.0)
                study.tell(trial, list(seen[c.key].vector(names)))
            else:  # fits, but past the budget: not evaluated
                study.tell(trial, state=TrialState.FAIL)
    return list(seen.values())


def _bar(total: int, label: str, progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=label, unit="design", file=sys.stderr, leave=False)
