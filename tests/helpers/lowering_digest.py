"""Digests of emitted instruction streams, to prove a faster lowering emits the same ones.

Every field the simulator, the bounds or a report reads is hashed: each instruction's op,
memory, bytes, cycles, loop nest, layer, four dependency flags and multicast key, in
program order per core, plus the plan the lowering reports (split, threads, tile, chunks,
modelled cycles and bytes) or the refusal's reason. ``tests/data/lowering_digests.json``
was recorded from the lowering before it was optimised (commit named in the file);
re-record only for plans a model change moves, and say which:

    PYTHONPATH=. python tests/helpers/lowering_digest.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

DIGEST_FILE = Path(__file__).resolve().parent.parent / "data" / "lowering_digests.json"

# (network, preset): zoo networks of every family (residual, depthwise, fire / concat,
# transposed conv, attention); both requantisation paths (mlu100 in the GEMM, vta16 on the ALU)
CASES = (("resnet18", "mlu100"), ("resnet50", "vta16"), ("mobilenet_v2", "mlu100"),
         ("squeezenet1_1", "vta16"), ("dcgan", "mlu100"), ("tiny_transformer", "vta16"),
         ("alexnet", "mlu100"))
MAX_GROUP_LAYERS = 3
CORE_COUNTS = (1, 2, 4, 16)
LAYER_STRIDE = 2  # every other start layer keeps the test short; all lengths from each


def _insn_fields(insn) -> tuple:
    return (insn.op, insn.mem, insn.nbytes, insn.cycles, insn.iter_out, insn.iter_in, insn.uops,
            insn.alu_ops, insn.layer, insn.pop_prev, insn.pop_next, insn.push_prev,
            insn.push_next, insn.share_key)


def lowered_digest(lowered) -> str:
    """16 hex digits over a LoweredGroup's programs and plan (or its refusal)."""
    h = hashlib.sha256()
    if not lowered.feasible:
        h.update(f"infeasible {lowered.reason}".encode())
        return h.hexdigest()[:16]
    meta = {k: lowered.meta[k] for k in sorted(lowered.meta)}
    h.update(repr((lowered.split, lowered.vthreads, lowered.tile_rows, lowered.tile_cols,
                   lowered.tiles, lowered.weights_resident, lowered.macs, meta)).encode())
    for program in lowered.programs:
        h.update(b"core")
        for insn in program:
            h.update(repr(_insn_fields(insn)).encode())
    return h.hexdigest()[:16]


def case_digests(network_name: str, preset: str) -> dict[str, str]:
    """``"start:end@cores" -> digest`` for the groups of one case."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.lowering import GroupSpec, lower_group
    from fusiongym.accelerator.workloads.zoo import get_network

    hw = load_config(preset)
    net = get_network(network_name)
    out = {}
    for start in range(0, len(net), LAYER_STRIDE):
        for end in range(start + 1, min(len(net), start + MAX_GROUP_LAYERS) + 1):
            spec = GroupSpec.from_network(net, start, end)
            for cores in CORE_COUNTS:
                if cores in hw.allowed_core_counts:
                    out[f"{start}:{end}@{cores}"] = lowered_digest(lower_group(spec, cores, hw))
    return out


def all_digests() -> dict[str, dict[str, str]]:
    return {f"{net}@{preset}": case_digests(net, preset) for net, preset in CASES}


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: lowering_digest.py --write", file=sys.stderr)
        return 2
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    DIGEST_FILE.write_text(json.dumps({"recorded_at_commit": commit, "cases": all_digests()},
                                      indent=1, sort_keys=True) + "\n")
    print(f"wrote {DIGEST_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
