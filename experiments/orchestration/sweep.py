"""Hyperparameter sweeps: train + evaluate every point of a grid, as Ray tasks.

A grid is a list of ``(dotted key, values)``; its points are the cartesian product (the
last key varies fastest). Each point is the base config with those keys replaced, and is
validated in full (schema, hardware, network names) before any trial starts. A trial
trains and evaluates in its own run directory ``OUT/<key=value,...>/``; the sweep then
writes ``OUT/summary.json`` and ``OUT/summary.md``: per trial, PPO's geo-mean ratio to the
oracle and speed-up over no fusion on the held-out networks, and the training time.

On a cluster a trial may run on another machine: it then trains in a temporary directory
there and sends the run directory back, so ``OUT`` always ends up complete on this one.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import re
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.fileio import atomic_write_json, atomic_write_text
from fusiongym.experiments.orchestration.config import ExperimentConfig, parse_config

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class SweepError(UserInputError):
    pass


# ---- the grid -------------------------------------------------------------------------
def split_values(text: str) -> list[str]:
    """``a,b`` -> ``['a', 'b']``; commas inside ``[...]``, ``{...}`` or quotes do not split."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A grid value as YAML (``3`` int, ``0.5`` float, ``true``, ``[64, 64]``, strings);
    ``3e-4``, which YAML 1.1 reads as a string, is a float as a user means it."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SweepError(f"grid value {text!r} is not valid YAML: "
                         f"{str(err).splitlines()[0]}") from None
    if isinstance(value, str) and _NUMBER.match(text):
        return float(text)
    return value


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """``['ppo.learning_rate=1e-3,3e-4', 'seed=0,1']`` -> ``[(key, [(text, value), ...]), ...]``."""
    grid: list[tuple[str, list[tuple[str, Any]]]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,... (e.g. seed=0,1,2)")
        if any(not part for part in key.split(".")):
            raise SweepError(f"--grid {spec!r}: {key!r} is not a dotted key like ppo.n_steps")
        if key in (k for k, _ in grid):
            raise SweepError(f"--grid {key} given twice: list all its values in one --grid")
        texts = split_values(values)
        if any(not t for t in texts):
            raise SweepError(f"--grid {spec!r}: an empty value")
        if len(set(texts)) != len(texts):
            raise SweepError(f"--grid {spec!r}: a value is repeated")
        grid.append((key, [(t, parse_value(t)) for t in texts]))
    if not grid:
        raise SweepError("no --grid given: a sweep needs at least one KEY=V1,V2")
    return grid


def set_dotted(data: dict, key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}  # an unknown section: parse_config names it
        elif not isinstance(child, dict):
            raise SweepError(f"--grid {key}: {'.'.join(parts[:depth + 1])} is not a section "
                             "of the config")
        node = child
    node[parts[-1]] = value


def dir_name(point: Sequence[tuple[str, str]]) -> str:
    """``[('seed', '1'), ('hardware', 'hw/pynq.yaml')]`` -> ``seed=1,hardware=hw_pynq.yaml``
    (a run of characters other than letters, digits and ``._+-`` becomes one ``_``)."""
    return ",".join(f"{key}={_UNSAFE.sub('_', text).strip('_') or '_'}" for key, text in point)


@dataclass
class Trial:
    label: str  # the run directory's name under OUT
    point: dict[str, Any]  # dotted key -> value
    cfg: ExperimentConfig


def expand(base: ExperimentConfig, grid: list[tuple[str, list[tuple[str, Any]]]],
           check: Callable[[ExperimentConfig], None] | None = None) -> list[Trial]:
    """Every grid point as a validated config (one-line error on the first bad one)."""
    from fusiongym.experiments.orchestration.runner import resolve

    base_data = base.model_dump(mode="json")
    trials, labels = [], {}
    resolved: set[str] = set()
    for combo in itertools.product(*[[(key, t, v) for t, v in values] for key, values in grid]):
        label = dir_name([(key, text) for key, text, _ in combo])
        data = copy.deepcopy(base_data)
        for key, _, value in combo:
            set_dotted(data, key, value)
        cfg = parse_config(data, f"grid point {label}")
        typed = ",".join(f"{key}={text}" for key, text, _ in combo)
        if label in labels:
            raise SweepError(f"grid points {labels[label]} and {typed} would share the run "
                             f"directory {label}: use values that differ in letters or digits")
        labels[label] = typed
        # hardware and network names, checked once per distinct set
        names = json.dumps([cfg.hardware, cfg.train_networks, cfg.eval_networks])
        if names not in resolved:
            try:
                resolve(cfg)
            except UserInputError as err:
                raise SweepError(f"grid point {label}: {err}") from None
            resolved.add(names)
        if check is not None:
            check(cfg)
        trials.append(Trial(label, {key: value for key, _, value in combo}, cfg))
    return trials


# ---- one trial ------------------------------------------------------------------------
def run_trial(cfg: ExperimentConfig, run_dir: str, driver_node: str | None = None) -> dict:
    """Train and evaluate ``cfg`` in ``run_dir``; returns the trial's numbers.

    ``driver_node``: the Ray node id of the machine that holds ``OUT``. On any other
    node the trial runs in a temporary directory, and the result carries the run
    directory as a tar archive (``archive``) for the driver to unpack.
    """
    from fusiongym.experiments.orchestration.runner import evaluate_run, train

    t0 = time.perf_counter()
    remote_node = None
    if driver_node is not None:
        import ray

        here = ray.get_runtime_context().get_node_id()
        remote_node = here if here != driver_node else None
    quiet = lambda msg: None  # noqa: E731  (a trial's log would interleave with the others')
    if remote_node is None:
        out = _numbers(train, evaluate_run, cfg, Path(run_dir), quiet)
    else:
        with tempfile.TemporaryDirectory(prefix="fusiongym-trial-") as tmp:
            out = _numbers(train, evaluate_run, cfg, Path(tmp) / "run", quiet)
            out["archive"] = _pack(Path(tmp) / "run")
        out["node"] = remote_node
    out["trial_seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _numbers(train, evaluate_run, cfg: ExperimentConfig, run_dir: Path, log) -> dict:
    train(cfg, run_dir, progress=False, log=log)
    result = evaluate_run(run_dir, progress=False, log=log)
    train_seconds = json.loads((run_dir / "train.json").read_text())["train_seconds"]
    ppo = next(s for s in result["summary"] if s["scheduler"] == "ppo")
    return {"ppo_geomean_ratio_to_oracle": ppo["geomean_ratio_to_oracle"],
            "ppo_geomean_speedup_vs_no_fusion": ppo["geomean_speedup_vs_no_fusion"],
            "train_seconds": train_seconds, "summary": result["summary"]}


def _pack(run_dir: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(run_dir, arcname=".")
    return buf.getvalue()


def unpack(archive: bytes, run_dir: Path) -> None:
    """Unpack a run directory sent back by another node (next to it, then renamed in)."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}."))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        if run_dir.exists():  # an empty directory from the validation, or a shared filesystem
            if any(run_dir.iterdir()):
                return
            run_dir.rmdir()
        tmp.rename(run_dir)
    finally:
        if tmp.exists():
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


# ---- the sweep ------------------------------------------------------------------------
@dataclass
class SweepResult:
    out: Path
    trials: list[dict]
    mode: str  # "ray" or "sequential"
    workers: int
    wall_seconds: float
    summary: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [t for t in self.trials if t["status"] != "ok"]


def check_fresh(out: Path, trials: Sequence[Trial]) -> None:
    for trial in trials:
        run_dir = out / trial.label
        if (run_dir / "model.zip").exists() or (run_dir / "checkpoints").exists():
            raise SweepError(f"{run_dir} already holds a run: choose another --out")


def run_sweep(base: ExperimentConfig, grid_specs: Sequence[str], out: Path, *,
              sequential: bool = False, ray_address: str | None = None,
              num_workers: int | None = None,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
              config_source: str = "") -> SweepResult:
    """Run every grid point; writes ``OUT/summary.json`` and ``OUT/summary.md``."""
    from fusiongym.experiments.parallel.ray_session import check_workers, cluster_cpus, import_ray, ray_session

    check_workers(num_workers)
    if not sequential:  # before the (slower) validation: the first thing a user must fix
        import_ray("fusiongym sweep", "pass --sequential to run the points one by one here")
    grid = parse_grid(grid_specs)
    out = Path(out).resolve()
    trials = expand(base, grid)
    check_fresh(out, trials)
    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    if sequential:
        workers = 1
        for k, trial in enumerate(trials, 1):
            log(f"[{k}/{len(trials)}] {trial.label}: training")
            records[trial.label] = _record(trial, out, lambda t=trial: run_trial(t.cfg, str(out / t.label)))
            log(_done_line(k, len(trials), records[trial.label]))
    else:
        with ray_session(ray_address, num_workers, what="fusiongym sweep",
                         alternative="pass --sequential") as ray:
            workers = num_workers or cluster_cpus(ray)
            driver = ray.get_runtime_context().get_node_id()
            remote = ray.remote(num_cpus=1)(run_trial)
            log(f"sweep: {len(trials)} trials on Ray ({workers} workers)")
            queued = list(reversed(trials))
            pending: dict = {}
            try:
                while queued or pending:
                    while queued and len(pending) < workers:
                        trial = queued.pop()
                        ref = remote.remote(trial.cfg, str(out / trial.label), driver)
                        pending[ref] = trial
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        trial = pending.pop(ref)
                        records[trial.label] = _record(trial, out, lambda r=ref: ray.get(r))
                        log(_done_line(len(records), len(trials), records[trial.label]))
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
    wall = round(time.perf_counter() - t0, 2)
    result = SweepResult(out, [records[t.label] for t in trials],
                         "sequential" if sequential else "ray", workers, wall)
    result.summary = {
        "name": base.name, "config": config_source, "out": str(out), "mode": result.mode,
        "workers": workers, "wall_seconds": wall, "grid": {k: [t for t, _ in v] for k, v in grid},
        "best": _best(result.trials), "trials": result.trials,
    }
    atomic_write_json(out / "summary.json", result.summary)
    atomic_write_text(out / "summary.md", render_markdown(result.summary))
    return result


def _record(trial: Trial, out: Path, get: Callable[[], dict]) -> dict:
    record = {"trial": trial.label, "point": trial.point, "run_dir": trial.label}
    try:
        numbers = get()
    except Exception as err:  # noqa: BLE001  (one failed trial must not lose the others)
        cause = getattr(err, "cause", None) or err  # Ray wraps the task's exception
        text = str(cause).strip().splitlines()
        record.update(status="failed", error=f"{type(cause).__name__}: {text[-1] if text else ''}")
        return record
    archive = numbers.pop("archive", None)
    if archive is not None:
        unpack(archive, out / trial.label)
        _relocate_eval(out / trial.label)
    record.update(status="ok", **numbers)
    return record


def _relocate_eval(run_dir: Path) -> None:
    """eval.json / eval.md name the directory they were written in: make it this one."""
    from fusiongym.experiments.orchestration.runner import render_markdown

    path = run_dir / "eval.json"
    data = json.loads(path.read_text())
    if data.get("run") != str(run_dir):
        data["run"] = str(run_dir)
        atomic_write_json(path, data)
        atomic_write_text(run_dir / "eval.md", render_markdown(data))


def _done_line(k: int, total: int, record: dict) -> str:
    if record["status"] != "ok":
        return f"[{k}/{total}] {record['trial']}: FAILED: {record['error']}"
    return (f"[{k}/{total}] {record['trial']}: PPO {record['ppo_geomean_ratio_to_oracle']:.4f}x "
            f"of oracle, trained in {record['train_seconds']:.1f} s")


def _best(trials: list[dict]) -> str | None:
    ok = [t for t in trials if t["status"] == "ok"]
    return min(ok, key=lambda t: t["ppo_geomean_ratio_to_oracle"])["trial"] if ok else None


def _rows(summary: dict) -> tuple[list[str], list[list]]:
    keys = list(summary["grid"])
    headers = keys + ["PPO ratio to oracle", "PPO speedup", "train s", "run directory"]
    rows = []
    for t in summary["trials"]:
        values = [json.dumps(t["point"][k]) if not isinstance(t["point"][k], str)
                  else t["point"][k] for k in keys]
        if t["status"] == "ok":
            star = " *" if t["trial"] == summary["best"] else ""
            rows.append(values + [f"{t['ppo_geomean_ratio_to_oracle']:.4f}{star}",
                                  f"{t['ppo_geomean_speedup_vs_no_fusion']:.3f}x",
                                  f"{t['train_seconds']:.1f}", t["run_dir"]])
        else:
            rows.append(values + ["failed", "", "", t["run_dir"]])
    return headers, rows


def render_text(summary: dict) -> str:
    from fusiongym.experiments.cli.output import format_table

    lines = [format_table(*_rows(summary)), ""]
    lines.append("PPO ratio to oracle: geo-mean over the held-out networks of PPO's latency "
                 "/ the oracle's (1 is optimal; * marks the best trial)")
    lines += [f"{t['trial']}: {t['error']}" for t in summary["trials"] if t["status"] != "ok"]
    return "\n".join(lines)


def render_markdown(summary: dict) -> str:
    from fusiongym.experiments.cli.output import markdown_table

    return (f"# Sweep {summary['name']} ({summary['mode']}, {summary['workers']} workers, "
            f"{summary['wall_seconds']:.1f} s)\n\n" + markdown_table(*_rows(summary)) + "\n\n"
            "PPO ratio to oracle: geo-mean over the held-out networks of PPO's latency / the "
            "oracle's (1 is optimal; * marks the best trial).\n")
