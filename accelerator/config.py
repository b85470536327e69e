"""HardwareConfig: VTA's vta_config.json fields plus the multi-core, DRAM and queue knobs.

A VTA user's ``vta_config.json`` loads as is (upper-case keys are mapped onto ours); our
own files use the lower-case names below. Presets ship as YAML files in ``presets/``.

Energy defaults are order-of-magnitude figures from M. Horowitz, "Computing's energy
problem (and what we can do about it)", ISSCC 2014 (45 nm): an 8-bit multiply ~0.2 pJ
plus an add ~0.03 pJ per MAC; a 64-bit read of a small (8-32 KiB) SRAM ~10-20 pJ, i.e.
~1.5 pJ per byte; a 64-bit DRAM access ~1.3-2.6 nJ, i.e. ~160-320 pJ per byte.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fusiongym.accelerator.errors import UserInputError

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "mlu100"  # what every command uses without --hw


class ConfigError(UserInputError):
    """A hardware or experiment configuration is invalid; the message is one line."""


# vta_config.json keys -> our field names (TARGET / HW_VER are informational)
_VTA_KEYS = {
    "TARGET": "target",
    "HW_VER": "hw_ver",
    "LOG_INP_WIDTH": "log_inp_width",
    "LOG_WGT_WIDTH": "log_wgt_width",
    "LOG_ACC_WIDTH": "log_acc_width",
    "LOG_OUT_WIDTH": "log_inp_width",  # older schemas: output width == input width
    "LOG_BATCH": "log_batch",
    "LOG_BLOCK": "log_block",
    "LOG_BLOCK_IN": "log_block",
    "LOG_BLOCK_OUT": "log_block",
    "LOG_UOP_BUFF_SIZE": "log_uop_buff_size",
    "LOG_INP_BUFF_SIZE": "log_inp_buff_size",
    "LOG_WGT_BUFF_SIZE": "log_wgt_buff_size",
    "LOG_ACC_BUFF_SIZE": "log_acc_buff_size",
    "LOG_OUT_BUFF_SIZE": None,  # derived from the accumulator buffer; accepted and checked
    "HW_FREQ": "clock_mhz",
    "GEMM_II": "gemm_ii",
    "TALU_II": "alu_ii",
    "LOG_BUS_WIDTH": None,  # bits; converted to dram_bandwidth_bytes_per_cycle below
}


class HardwareConfig(BaseModel):
    """One accelerator: N identical VTA-style cores sharing one DRAM.

    All times are in cycles of ``clock_mhz``; all sizes in bytes unless named otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # the fixed per-group costs (accelerator/results.py); launch_overlap only says how the
    # launch shows, so it is not among them
    OVERHEAD_FIELDS: ClassVar[tuple[str, ...]] = (
        "launch_overhead_cycles", "launch_dispatch_cycles", "barrier_hop_cycles",
        "sync_cycles_per_core", "host_call_overhead_cycles")
    # the host-layer knobs (accelerator/host.py); they change nothing while the first layer
    # runs on the accelerator, so they are then left out of ``key`` and old memos stay valid
    HOST_FIELDS: ClassVar[tuple[str, ...]] = (
        "first_layer_on", "host_clock_mhz", "host_int8_macs_per_cycle",
        "host_call_overhead_cycles", "host_transfer_bytes_per_cycle")

    name: str = "vta"
    target: str = "sim"
    hw_ver: str = "0.0.2"
    # --- VTA core (vta_config.json) ---
    log_inp_width: int = Field(3, ge=0, le=5)
    log_wgt_width: int = Field(3, ge=0, le=5)
    log_acc_width: int = Field(5, ge=3, le=6)
    log_batch: int = Field(0, ge=0, le=4)
    log_block: int = Field(4, ge=1, le=7)
    log_uop_buff_size: int = Field(15, ge=8, le=24)
    log_inp_buff_size: int = Field(15, ge=8, le=24)
    log_wgt_buff_size: int = Field(18, ge=8, le=26)
    log_acc_buff_size: int = Field(17, ge=8, le=26)
    clock_mhz: float = Field(100.0, gt=0)
    gemm_ii: int = Field(1, ge=1, description="GEMM initiation interval (cycles per micro-op)")
    alu_ii: int = Field(2, ge=1, description="ALU initiation interval (cycles per vector op)")
    gemm_pipeline_stages: int = Field(
        0, ge=0, description="GEMM core pipeline depth: every GEMM instruction's loop nest "
                             "fills and drains it once, so each costs this many extra cycles "
                             "(VTA's HLS pipelines the loop at II 1; the talk sweeps 11-20 "
                             "stages; 0 = not modelled, as before)")
    requantize_in_gemm: bool = Field(
        False, description="requantise/activation fused into the GEMM output path (MLU-class); "
                           "False = VTA's serial ALU pass")
    virtual_threads: int = Field(2, ge=1, le=2)
    # --- multi-core ---
    num_cores: int = Field(1, ge=1, le=1024)
    core_counts: tuple[int, ...] | None = None  # allowed core counts; default: powers of two
    default_cores: int = Field(1, ge=1, description="core count of the no-fusion baseline")
    # --- shared DRAM ---
    dram_bandwidth_bytes_per_cycle: float = Field(8.0, gt=0)
    dram_latency_cycles: int = Field(64, ge=0)
    dram_burst_bytes: int = Field(4096, ge=64, description="arbitration granule between cores")
    dram_arbitration: Literal["fair_share", "burst"] = "fair_share"  # see accelerator/sim.py
    dram_port_bytes_per_cycle: float = Field(
        0.0, ge=0, description="per-core DRAM port: one core never moves more bytes per cycle "
                               "than this (0 = no cap, only the shared bandwidth)")
    dram_multicast: bool = Field(
        False, description="one DRAM read of data several cores of a group load (same key) is "
                           "delivered to all of them; see accelerator/sim.py")
    # --- queues ---
    cmd_queue_depth: int = Field(8, ge=1)
    token_queue_depth: int = Field(8, ge=1)
    instruction_bytes: int = Field(16, ge=1, description="VTA instructions are 128-bit")
    # --- overheads (accelerator/results.py has the formula, sim.py the barrier events) ---
    launch_overhead_cycles: int = Field(
        2000, ge=0, description="host driver/runtime work per fused-group launch")
    launch_dispatch_cycles: int = Field(
        0, ge=0, description="doorbell + command fetch per launch: never hidden")
    launch_overlap: bool = Field(
        False, description="a command queue: the host prepares the next launch while this "
                           "group runs (only what the run cannot cover shows)")
    host_launch_slots: int = Field(
        1, ge=1, description="launches the host can prepare at once when groups co-run "
                             "(placements): 1 = one runtime thread submits, as TVM's graph "
                             "executor and a single CUDA/CNRT stream do; NVIDIA's Hyper-Q "
                             "gives 32 hardware queues (Kepler GK110 whitepaper, 2012), the "
                             "ceiling for a multi-threaded host")
    barrier_hop_cycles: int = Field(
        0, ge=0, description="end-of-group barrier: one round of a dissemination (butterfly) "
                             "barrier over the active cores; ceil(log2(active)) rounds")
    sync_cycles_per_core: int = Field(
        200, ge=0, description="legacy host-polled barrier: the host reads each allocated "
                               "core's done flag in turn (linear; kept so vta16 reproduces)")
    # --- where the first layer runs (accelerator/host.py has the rule and the formula) ---
    # Defaults describe a PYNQ-Z1's host, the board VTA's own deployment runs on: TVM's VTA
    # tutorials (deploy_classification, tune_relay_vta) start offloading at ResNet-18's
    # first max-pool (start_pack = "nn.max_pool2d"), so the first convolution runs on the
    # Zynq-7020's dual-core ARM Cortex-A9.
    first_layer_on: Literal["accelerator", "host"] = Field(
        "accelerator", description="where the network's first convolution (layer 0, reading "
                                   "the network input) runs: on the accelerator, or on the "
                                   "host CPU as VTA's deployment does")
    host_clock_mhz: float = Field(
        650.0, gt=0, description="host CPU clock (PYNQ-Z1: the Zynq-7020's Cortex-A9 at "
                                 "650 MHz, Digilent's PYNQ-Z1 reference manual)")
    host_int8_macs_per_cycle: float = Field(
        8.0, gt=0, description="int8 MACs per host cycle the host sustains on a convolution, "
                               "all its cores together. ASSUMPTION: on the A9 pair, half of "
                               "one 8-lane int8 multiply-accumulate (VMLAL.S8 on a 64-bit D "
                               "register, the width of the A9's NEON datapath) per core per "
                               "cycle, which is an upper limit")
    host_call_overhead_cycles: int = Field(
        1000, ge=0, description="per host-layer call: the runtime dispatching the host "
                                "kernel and handing its output to the accelerator. "
                                "ASSUMPTION: ~10 us (1,000 cycles at 100 MHz)")
    host_transfer_bytes_per_cycle: float = Field(
        0.0, ge=0, description="bytes per accelerator cycle the host layer's input, weights "
                               "and output move at between the host and the accelerator's "
                               "DRAM; 0 = the shared DRAM's bandwidth (a SoC whose CPU and "
                               "accelerator share one DDR, as the Zynq's do)")
    # --- energy (pJ), see the module docstring for the source ---
    energy_pj_per_mac: float = Field(0.25, ge=0)
    energy_pj_per_sram_byte: float = Field(1.5, ge=0)
    energy_pj_per_dram_byte: float = Field(160.0, ge=0)
    # --- validation switch: every instruction waits for the previous one of any module ---
    forced_serial: bool = False

    @model_validator(mode="after")
    def _check(self) -> "HardwareConfig":
        counts = self.allowed_core_counts
        if any(c < 1 or c > self.num_cores for c in counts):
            raise ValueError(f"core_counts {list(counts)} must lie in 1..num_cores={self.num_cores}")
        if self.default_cores not in counts:
            raise ValueError(f"default_cores={self.default_cores} is not in core_counts {list(counts)}")
        if self.dram_burst_bytes & (self.dram_burst_bytes - 1):
            raise ValueError(f"dram_burst_bytes={self.dram_burst_bytes} must be a power of two")
        if self.inp_buff_bytes < self.block_in * self.inp_bytes * self.batch:
            raise ValueError("input buffer cannot hold one input vector")
        return self

    # ---- derived sizes (all bytes) -------------------------------------------------
    @property
    def allowed_core_counts(self) -> tuple[int, ...]:
        if self.core_counts is not None:
            return tuple(sorted(set(self.core_counts)))
        return tuple(2**i for i in range(int(math.log2(self.num_cores)) + 1))

    @property
    def batch(self) -> int:
        return 1 << self.log_batch

    @property
    def block_in(self) -> int:
        return 1 << self.log_block

    @property
    def block_out(self) -> int:
        return 1 << self.log_block

    @property
    def inp_bits(self) -> int:
        return 1 << self.log_inp_width

    @property
    def wgt_bits(self) -> int:
        return 1 << self.log_wgt_width

    @property
    def acc_bits(self) -> int:
        return 1 << self.log_acc_width

    @property
    def inp_bytes(self) -> float:
        return self.inp_bits / 8

    @property
    def acc_bytes(self) -> float:
        return self.acc_bits / 8

    @property
    def inp_buff_bytes(self) -> int:
        return 1 << self.log_inp_buff_size

    @property
    def wgt_buff_bytes(self) -> int:
        return 1 << self.log_wgt_buff_size

    @property
    def acc_buff_bytes(self) -> int:
        return 1 << self.log_acc_buff_size

    @property
    def uop_buff_bytes(self) -> int:
        return 1 << self.log_uop_buff_size

    @property
    def out_buff_bytes(self) -> int:
        return self.acc_buff_bytes * self.inp_bits // self.acc_bits

    @property
    def macs_per_cycle(self) -> int:
        """Per core: one (BATCH x BLOCK_IN) x (BLOCK_IN x BLOCK_OUT) GEMM per micro-op."""
        return self.batch * self.block_in * self.block_out // self.gemm_ii

    @property
    def peak_macs_per_cycle(self) -> int:
        """All cores together."""
        return self.macs_per_cycle * self.num_cores

    @property
    def machine_balance_ops_per_byte(self) -> float:
        """Roofline ridge: peak ops (2 per MAC) per DRAM byte; a layer with fewer ops per
        byte it moves is bandwidth-bound on the whole machine."""
        return 2 * self.peak_macs_per_cycle / self.dram_bandwidth_bytes_per_cycle

    @cached_property
    def key(self) -> str:
        """Stable identity of everything that changes a group's simulated numbers (the memo
        key). ``host_launch_slots`` only matters when groups co-run, which the memo never
        holds (an isolated group's result), so it is left out and old memos stay valid; so
        are the host-layer knobs while ``first_layer_on`` is ``"accelerator"``."""
        exclude = {"name", "target", "hw_ver", "host_launch_slots"}
        if self.first_layer_on == "accelerator":
            exclude |= set(self.HOST_FIELDS)
        return json.dumps(self.model_dump(exclude=exclude), sort_keys=True)

    def without_overheads(self) -> "HardwareConfig":
        """A copy with every launch / barrier knob (``OVERHEAD_FIELDS``) at 0: what the
        machine alone decides (compute, bandwidth, buffers, partitioning)."""
        return self.with_(name=f"{self.name}-no-overheads",
                          **{name: 0 for name in self.OVERHEAD_FIELDS})

    def file_mapping(self) -> dict[str, Any]:
        """Every field, in declaration order, as a YAML / JSON hardware file writes it:
        :func:`make_config` of this mapping gives back an equal config."""
        data = self.model_dump()
        if data["core_counts"] is not None:
            data["core_counts"] = list(data["core_counts"])
        return data

    def with_(self, **changes: Any) -> "HardwareConfig":
        """A validated copy with some fields changed."""
        data = self.model_dump()
        data.update(changes)
        return make_config(data, source="override")


# fields given as log2 of a quantity (VTA's convention), and the quantity's unit
LOG2_FIELDS = {"log_inp_width": "bits", "log_wgt_width": "bits", "log_acc_width": "bits",
               "log_batch": "rows", "log_block": "lanes", "log_uop_buff_size": "bytes",
               "log_inp_buff_size": "bytes", "log_wgt_buff_size": "bytes",
               "log_acc_buff_size": "bytes"}


def log2_hint(key: str, value: Any = None) -> str:
    """' (log2 of bytes: ...)' for a log2 field, '' otherwise; with a power-of-two value
    that looks like the quantity itself, the log2 the user probably meant."""
    unit = LOG2_FIELDS.get(key)
    if unit is None:
        return ""
    hint = f"log2 of {unit}: the value v means 2**v {unit}"
    if isinstance(value, int) and not isinstance(value, bool) and value > 64 \
            and value & (value - 1) == 0:
        hint += f"; {value} {unit} is {value.bit_length() - 1}"
    return f" ({hint})"


def _flatten_error(err: ValidationError, source: str) -> str:
    import difflib

    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        near = difflib.get_close_matches(loc, list(HardwareConfig.model_fields), n=1)
        if near:
            msg += f"; did you mean {near[0]}?"
    elif loc in LOG2_FIELDS:
        msg += log2_hint(loc, first.get("input"))
    msg = msg.removeprefix("Value error, ")  # a cross-field check names its keys itself
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def make_config(data: dict[str, Any], source: str = "config") -> HardwareConfig:
    """Validate a mapping (our keys and/or VTA's upper-case keys) into a HardwareConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    ours: dict[str, Any] = {}
    for key, value in data.items():
        if key in _VTA_KEYS:
            target = _VTA_KEYS[key]
            if key == "LOG_BUS_WIDTH":
                if not isinstance(value, int) or value < 3:
                    raise ConfigError(f"{source}: LOG_BUS_WIDTH: must be an integer >= 3")
                ours["dram_bandwidth_bytes_per_cycle"] = float((1 << value) // 8)
            elif target is not None:
                ours[target] = float(value) if target == "clock_mhz" else value
        else:
            ours[key] = value
    if isinstance(ours.get("core_counts"), list):
        ours["core_counts"] = tuple(ours["core_counts"])
    for float_key in ("clock_mhz", "dram_bandwidth_bytes_per_cycle", "dram_port_bytes_per_cycle",
                      "host_clock_mhz", "host_int8_macs_per_cycle",
                      "host_transfer_bytes_per_cycle",
                      "energy_pj_per_mac",
                      "energy_pj_per_sram_byte", "energy_pj_per_dram_byte"):
        if isinstance(ours.get(float_key), int) and not isinstance(ours[float_key], bool):
            ours[float_key] = float(ours[float_key])
    try:
        return HardwareConfig(**ours)
    except ValidationError as err:
        raise ConfigError(_flatten_error(err, source)) from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_config(spec: str | Path | None = None) -> HardwareConfig:
    """Load a preset by name (see :func:`preset_names`) or a YAML / JSON file.

    ``None`` gives :data:`DEFAULT_PRESET`, the MLU100-class machine DLFusion ran on.
    """
    if spec is None:
        spec = DEFAULT_PRESET
    path = Path(spec)
    if not path.suffix and str(spec) in preset_names():
        path = PRESET_DIR / f"{spec}.yaml"
    if not path.exists():
        raise ConfigError(
            f"hardware config {str(spec)!r} not found (not a file, nor a preset: "
            f"{', '.join(preset_names())})"
        )
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}") from None
    if data is None:
        raise ConfigError(f"{path}: file is empty")
    data = dict(data) if isinstance(data, dict) else data
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return make_config(data, source=str(path))
