"""A design space file: knobs with their choices, the board or budget a design must fit,
the networks it is for, and what to optimise. Validated in full before anything runs.

Example (``experiments/configs/explore_ultra96.yaml`` is the shipped one)::

    name: ultra96
    base: ultra96                 # the preset (or hardware file) every candidate starts from
    target: {fpga: ultra96}       # or {asic: tsmc16, area_mm2: 60, power_w: 80}
    knobs:
      gemm: [1x16, 2x16, 1x32]    # BATCH x BLOCK of the GEMM intrinsic
      alu_lanes: [16, 32]         # tensor-ALU lanes per core
      inp_kib: [32, 64]           # the on-chip RAM split (KiB per buffer, powers of two)
      wgt_kib: [256, 512]
      acc_kib: [128, 256]
      ram_kib_max: 1024           # ... under this total (input + weight + accumulator)
      clock_mhz: [250, 300, 333]
      gemm_stages: {min: 11, max: 20}   # GEMM pipeline depth; omit: the fewest that close
    workloads: [{network: resnet18, weight: 1}, {network: mobilenet_v1, weight: 1}]
    objectives: [latency_ms, utilisation]
    scheduler: oracle             # or bound-dp (a proxy; the front is then verified by the oracle)

A knob's value is a list of choices or ``{min, max, step}``. Knobs not given keep the base's
value. Errors are one line naming the file and the key; an unknown name suggests the
nearest known one.
"""

from __future__ import annotations

import difflib
import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fusiongym.accelerator.config import ConfigError, HardwareConfig, load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.resources import ASIC_PROCESSES, FPGA_DEVICES, asic_cost, fpga_cost
from fusiongym.accelerator.workloads.loader import load_network

KNOBS = ("gemm", "alu_lanes", "inp_kib", "wgt_kib", "acc_kib", "cores",
         "dram_bytes_per_cycle", "clock_mhz", "gemm_stages")
# minimised; the "max" ones are negated internally (see experiments.explore.pareto)
OBJECTIVES = {"latency_ms": "min", "energy_mj": "min", "utilisation": "min", "luts": "min",
              "dsp": "min", "bram36": "min", "area_mm2": "min", "power_w": "min",
              "peak_gops": "max", "gops_per_w": "max"}
FPGA_ONLY = {"utilisation", "luts", "dsp", "bram36"}
ASIC_ONLY = {"area_mm2"}
SCHEDULERS = ("oracle", "bound-dp")
BASE_ALU_II = 2  # VTA's tensor ALU: one vector op every 2 cycles over the full vector


class SpaceError(UserInputError):
    """A design space file is invalid; the message is one line."""


def _nearest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"


class _Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float
    max: float
    step: float = 1

    def values(self) -> list[float]:
        if self.step <= 0:
            raise ValueError(f"step must be > 0, got {self.step:g}")
        if self.max < self.min:
            raise ValueError(f"empty range: min {self.min:g} > max {self.max:g}")
        n = int(math.floor((self.max - self.min) / self.step + 1e-9)) + 1
        return [self.min + k * self.step for k in range(n)]


class Target(BaseModel):
    """What a candidate must fit: an FPGA board, or an ASIC process with budgets."""

    model_config = ConfigDict(extra="forbid")
    fpga: str | None = None
    asic: str | None = None
    area_mm2: float | None = Field(None, gt=0)
    power_w: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> "Target":
        if (self.fpga is None) == (self.asic is None):
            raise ValueError("give exactly one of fpga: BOARD or asic: PROCESS")
        if self.fpga is not None and self.fpga not in FPGA_DEVICES:
            raise ValueError(f"fpga: unknown board {self.fpga!r}{_nearest(self.fpga, FPGA_DEVICES)}")
        if self.asic is not None and self.asic not in ASIC_PROCESSES:
            raise ValueError(f"asic: unknown process {self.asic!r}{_nearest(self.asic, ASIC_PROCESSES)}")
        if self.fpga is not None and (self.area_mm2 or self.power_w):
            raise ValueError("area_mm2 / power_w are ASIC budgets; an FPGA's budget is its board")
        return self


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    network: str
    weight: float = Field(1.0, gt=0)


class SpaceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "space"
    base: str
    target: Target
    knobs: dict[str, Any]
    workloads: list[Workload] = Field(min_length=1)
    objectives: list[str] = Field(min_length=2)
    scheduler: Literal["oracle", "bound-dp"] = "oracle"
    max_group_layers: int = Field(8, ge=1)

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, names: list[str]) -> list[str]:
        for n in names:
            if n not in OBJECTIVES:
                raise ValueError(f"unknown objective {n!r}{_nearest(n, OBJECTIVES)}")
        if len(set(names)) != len(names):
            raise ValueError("an objective is listed twice")
        return names


@dataclass(frozen=True)
class Candidate:
    """One design: a value for every knob (sorted by name, so the key is stable)."""

    knobs: tuple[tuple[str, Any], ...]

    @cached_property
    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.knobs)

    def __getitem__(self, name: str) -> Any:
        return dict(self.knobs)[name]


class DesignSpace:
    """A validated space: its choices, and a candidate's hardware and cost."""

    def __init__(self, spec: SpaceFile, source: str):
        self.spec = spec
        self.source = source
        self.name = spec.name
        try:
            self.base = load_config(spec.base)
        except ConfigError as err:
            raise SpaceError(f"{source}: base: {err}") from None
        self.ram_kib_max = spec.knobs.get("ram_kib_max")
        self.choices = self._choices(spec.knobs)
        self.objectives = list(spec.objectives)
        target = spec.target
        wrong = FPGA_ONLY if target.asic else ASIC_ONLY
        for n in self.objectives:
            if n in wrong:
                raise SpaceError(f"{source}: objectives: {n!r} does not apply to an "
                                 f"{'ASIC' if target.asic else 'FPGA'} target")
        if spec.scheduler != "oracle" and "energy_mj" in self.objectives:
            raise SpaceError(f"{source}: objectives: energy_mj needs scheduler: oracle "
                             f"({spec.scheduler} bounds latency only)")
        for w in spec.workloads:
            try:
                load_network(w.network)
            except UserInputError as err:
                raise SpaceError(f"{source}: workloads: {err}") from None
        self._fitting: list[Candidate] | None = None

    # ---- knobs ----------------------------------------------------------------------
    def _choices(self, knobs: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {}
        for name, raw in knobs.items():
            if name == "ram_kib_max":
                if not isinstance(raw, (int, float)) or isinstance(raw, bool) or raw <= 0:
                    raise SpaceError(f"{self.source}: knobs.ram_kib_max: must be a number > 0")
                continue
            if name not in KNOBS:
                raise SpaceError(f"{self.source}: knobs: unknown knob {name!r}"
                                 f"{_nearest(name, KNOBS + ('ram_kib_max',))}")
            if isinstance(raw, dict):
                try:
                    values = _Range(**raw).values()
                except (ValidationError, ValueError, TypeError) as err:
                    msg = (err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err))
                    raise SpaceError(f"{self.source}: knobs.{name}: {msg}") from None
                values = [int(v) if float(v).is_integer() else v for v in values]
            elif isinstance(raw, list):
                values = raw
            else:
                values = [raw]
            if not values:
                raise SpaceError(f"{self.source}: knobs.{name}: empty list of choices")
            for v in values:
                self._check_value(name, v)
            out[name] = list(dict.fromkeys(values))
        return dict(sorted(out.items()))

    def _check_value(self, name: str, v: Any) -> None:
        where = f"{self.source}: knobs.{name}"
        if name == "gemm":
            parts = str(v).lower().split("x")
            if len(parts) != 2 or not all(p.isdigit() and _pow2(int(p)) for p in parts):
                raise SpaceError(f"{where}: {v!r} is not BATCHxBLOCK with powers of two (e.g. 1x16)")
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise SpaceError(f"{where}: {v!r} is not a number > 0")
        if name in ("inp_kib", "wgt_kib", "acc_kib") and not (float(v).is_integer() and _pow2(int(v))):
            raise SpaceError(f"{where}: {v!r} KiB is not a power of two (VTA sizes buffers by log2)")
        if name in ("alu_lanes", "cores", "gemm_stages") and not float(v).is_integer():
            raise SpaceError(f"{where}: {v!r} is not a whole number")

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.choices.values())

    def all_candidates(self) -> list[Candidate]:
        names = list(self.choices)
        return [Candidate(tuple(zip(names, combo)))
                for combo in itertools.product(*(self.choices[n] for n in names))]

    # ---- a candidate's hardware and cost ----------------------------------------------
    def hardware(self, c: Candidate) -> HardwareConfig:
        k = dict(c.knobs)
        changes: dict[str, Any] = {"name": f"{self.name}[{c.key}]"}
        if "gemm" in k:
            batch, block = (int(p) for p in str(k["gemm"]).lower().split("x"))
            changes["log_batch"], changes["log_block"] = _log2(batch), _log2(block)
        for knob, field in (("inp_kib", "log_inp_buff_size"), ("wgt_kib", "log_wgt_buff_size"),
                            ("acc_kib", "log_acc_buff_size")):
            if knob in k:
                changes[field] = _log2(int(k[knob]) * 1024)
        if "cores" in k:
            changes["num_cores"] = int(k["cores"])
            changes["core_counts"] = None
            changes["default_cores"] = 1
        if "dram_bytes_per_cycle" in k:
            changes["dram_bandwidth_bytes_per_cycle"] = float(k["dram_bytes_per_cycle"])
        if "clock_mhz" in k:
            changes["clock_mhz"] = float(k["clock_mhz"])
        hw = self.base.with_(**changes)
        lanes = self.alu_lanes(c, hw)
        stages = self._stages(c, hw)
        # fewer lanes than the accumulator vector: each vector op takes more passes
        alu_ii = BASE_ALU_II * -(-(hw.batch * hw.block_out) // lanes)
        return hw.with_(alu_ii=alu_ii, gemm_pipeline_stages=stages)

    def alu_lanes(self, c: Candidate, hw: HardwareConfig) -> int:
        k = dict(c.knobs)
        return int(k["alu_lanes"]) if "alu_lanes" in k else hw.batch * hw.block_out

    def _stages(self, c: Candidate, hw: HardwareConfig) -> int:
        k = dict(c.knobs)
        if "gemm_stages" in k:
            return int(k["gemm_stages"])
        if self.spec.target.fpga:
            from fusiongym.accelerator.resources import stages_for_clock
            fam = FPGA_DEVICES[self.spec.target.fpga].family
            return stages_for_clock(hw.clock_mhz, hw.block_in, fam) or 64
        return hw.gemm_pipeline_stages

    def cost(self, c: Candidate, hw: HardwareConfig | None = None):
        """``(FpgaReport | AsicReport, reasons it does not fit)``: the resource model's view,
        with the RAM budget of the space file checked too."""
        hw = hw if hw is not None else self.hardware(c)
        t = self.spec.target
        lanes = self.alu_lanes(c, hw)
        if t.fpga:
            report = fpga_cost(hw, FPGA_DEVICES[t.fpga], alu_lanes=lanes,
                               gemm_stages=hw.gemm_pipeline_stages or None)
        else:
            report = asic_cost(hw, ASIC_PROCESSES[t.asic], alu_lanes=lanes,
                               area_budget_mm2=t.area_mm2, power_budget_w=t.power_w)
        over = list(report.over)
        if self.ram_kib_max is not None:
            ram = (hw.inp_buff_bytes + hw.wgt_buff_bytes + hw.acc_buff_bytes) / 1024
            if ram > self.ram_kib_max:
                over.append(f"RAM {ram:g} KiB > ram_kib_max {self.ram_kib_max:g}")
        return report, tuple(over)

    def fitting(self) -> list[Candidate]:
        """Every candidate of the grid that fits (the resource model is analytic: cheap)."""
        if self._fitting is None:
            out = []
            for c in self.all_candidates():
                try:
                    hw = self.hardware(c)
                except ConfigError:
                    continue  # e.g. an input buffer that cannot hold one vector
                if not self.cost(c, hw)[1]:
                    out.append(c)
            self._fitting = out
        return self._fitting


def _pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _log2(n: int) -> int:
    return int(round(math.log2(n)))


def load_space(path: str | Path, check_fit: bool = True) -> DesignSpace:
    """Read and validate a space file; with ``check_fit``, also that some candidate fits."""
    p = Path(path)
    if not p.exists():
        raise SpaceError(f"design space file {str(path)!r} not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise SpaceError(f"{p}: not valid YAML: {str(err).strip().splitlines()[0]}") from None
    except OSError as err:
        raise SpaceError(f"{p}: cannot read: {err.strerror}") from None
    if not isinstance(data, dict):
        raise SpaceError(f"{p}: expected a mapping (name, base, target, knobs, workloads, "
                         f"objectives), got {type(data).__name__ if data is not None else 'an empty file'}")
    for key in data:
        if key not in SpaceFile.model_fields:
            raise SpaceError(f"{p}: unknown key {key!r}{_nearest(key, SpaceFile.model_fields)}")
    try:
        spec = SpaceFile(**data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise SpaceError(f"{p}: {loc}: {msg}" if loc else f"{p}: {msg}") from None
    space = DesignSpace(spec, str(p))
    if check_fit and not space.fitting():
        raise SpaceError(f"{p}: no candidate of the {space.size} fits "
                         f"{_target_words(spec.target)}{' and ram_kib_max' if space.ram_kib_max else ''}")
    return space


def _target_words(t: Target) -> str:
    if t.fpga:
        return f"the {FPGA_DEVICES[t.fpga].name} board"
    budgets = [f"{v:g} {u}" for v, u in ((t.area_mm2, "mm^2"), (t.power_w, "W")) if v]
    return f"{t.asic} within {' / '.join(budgets) or 'no budget'}"
