"""A VTA-like instruction set: LOAD / GEMM / ALU / STORE / FINISH with four dependency flags.

Instructions are plain ``__slots__`` objects because the simulator touches millions of them.
Routing follows VTA's fetch module: LOAD of INP/WGT goes to the load queue; LOAD of UOP/ACC,
GEMM, ALU and FINISH go to the compute queue; STORE goes to the store queue.
"""

from __future__ import annotations

LOAD, GEMM, ALU, STORE, FINISH = "LOAD", "GEMM", "ALU", "STORE", "FINISH"
MEM_INP, MEM_WGT, MEM_ACC, MEM_UOP, MEM_OUT = "INP", "WGT", "ACC", "UOP", "OUT"

# module indices
LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE = 0, 1, 2
MODULE_NAMES = ("load", "compute", "store")

# dependency-token queue indices (per core), between neighbouring modules
LD2CMP, CMP2LD, CMP2ST, ST2CMP = 0, 1, 2, 3
TOKEN_NAMES = ("LD->CMP", "CMP->LD", "CMP->ST", "ST->CMP")
# Which token queue a module's flags act on: (pop_prev, pop_next, push_prev, push_next),
# None where the module has no neighbour on that side (VTA: load has no "prev", store no
# "next"; the lowering never sets such a flag). The simulator and the oracle's bounds both
# read this table, so they cannot disagree on the token rules.
TOKEN_QUEUES: dict[int, tuple[int | None, int | None, int | None, int | None]] = {
    LOAD_MODULE: (None, CMP2LD, None, LD2CMP),
    COMPUTE_MODULE: (LD2CMP, ST2CMP, CMP2LD, CMP2ST),
    STORE_MODULE: (CMP2ST, None, ST2CMP, None),
}


class Insn:
    """One instruction.

    - ``cycles``: execution time of a GEMM / ALU once started, from its loop nest
      (``iter_out * iter_in * uops * II``). A memory instruction's time is the DRAM
      transfer of ``nbytes``; its ``cycles`` (0 except for the im2col gather, whose write
      side scatters more bytes into the input buffer than its read side moves) is a floor
      on that time.
    - dependency flags: ``pop_prev`` / ``pop_next`` are taken before the instruction runs,
      ``push_prev`` / ``push_next`` after, exactly as in VTA.
    - ``share_key`` (LOAD only, our extension): equal keys within one group's streams mean
      the same bytes from the same DRAM addresses, so a multicast-capable DRAM may serve
      the cores that load it with one transfer (``HardwareConfig.dram_multicast``); None
      for data only this core reads.
    """

    __slots__ = ("op", "mem", "module", "cycles", "nbytes", "iter_out", "iter_in", "uops",
                 "alu_ops", "layer", "pop_prev", "pop_next", "push_prev", "push_next",
                 "share_key")

    def __init__(self, op: str, mem: str = "", *, nbytes: int = 0, iter_out: int = 0,
                 iter_in: int = 0, uops: int = 0, alu_ops: int = 0, cycles: int = 0,
                 layer: int = -1, share_key: tuple | None = None):
        self.op = op
        self.mem = mem
        if op == STORE:
            self.module = STORE_MODULE
        elif op == LOAD and mem in (MEM_INP, MEM_WGT):
            self.module = LOAD_MODULE
        else:
            self.module = COMPUTE_MODULE
        self.nbytes = nbytes
        self.iter_out = iter_out
        self.iter_in = iter_in
        self.uops = uops
        self.alu_ops = alu_ops
        self.cycles = cycles
        self.layer = layer
        self.share_key = share_key
        self.pop_prev = self.pop_next = self.push_prev = self.push_next = False

    @property
    def kind(self) -> str:
        """Short label for traces and plots (``LOAD.INP``, ``GEMM`` ...)."""
        return f"{self.op}.{self.mem}" if self.mem else self.op

    def __repr__(self) -> str:
        flags = "".join(c if f else "-" for c, f in zip("PpSs", (self.pop_prev, self.pop_next,
                                                                 self.push_prev, self.push_next)))
        size = f" {self.nbytes}B" if self.nbytes else f" {self.cycles}cy"
        return f"<{self.kind}{size} L{self.layer} {flags}>"
