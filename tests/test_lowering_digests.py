"""The lowering emits exactly the instruction streams it emitted before it was optimised.

``tests/data/lowering_digests.json`` holds a digest of every core's stream and of the plan
for zoo groups x core counts, recorded from the unoptimised lowering (see
``tests/helpers/lowering_digest.py``); a faster lowering must reproduce every one.
"""

from __future__ import annotations

import json

import pytest

from helpers.lowering_digest import CASES, DIGEST_FILE, case_digests, lowered_digest

RECORDED = json.loads(DIGEST_FILE.read_text())["cases"]


@pytest.mark.parametrize("network_name,preset", CASES)
def test_emitted_streams_match_the_recorded_digests(network_name, preset):
    expected = RECORDED[f"{network_name}@{preset}"]
    got = case_digests(network_name, preset)
    assert got.keys() == expected.keys()
    changed = sorted(k for k in expected if got[k] != expected[k])
    assert not changed, f"{len(changed)} groups emit different streams: {changed[:10]}"


def test_the_digest_sees_a_single_changed_flag():
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.lowering import GroupSpec, lower_group
    from fusiongym.accelerator.workloads.zoo import get_network

    lowered = lower_group(GroupSpec.from_network(get_network("tiny_chain"), 0, 2), 1,
                          load_config("vta16"))
    before = lowered_digest(lowered)
    insn = lowered.programs[0][3]
    insn.push_next = not insn.push_next
    try:
        assert lowered_digest(lowered) != before
    finally:
        insn.push_next = not insn.push_next


def test_a_replayed_instruction_copies_every_slot():
    from fusiongym.accelerator.isa import GEMM, Insn
    from fusiongym.accelerator.lowering.emit import _clone

    insn = Insn(GEMM, iter_out=3, iter_in=2, uops=5, cycles=30, layer=4, share_key=("k",))
    for k, name in enumerate(Insn.__slots__):
        if name not in ("op", "mem", "module"):
            setattr(insn, name, (k + 1) if not name.startswith("p") else True)
    copy = _clone(insn)
    assert copy is not insn
    assert all(getattr(copy, n) == getattr(insn, n) for n in Insn.__slots__)
