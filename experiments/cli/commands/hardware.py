"""``fusiongym hardware``: show a hardware preset or file, fully resolved.

Prints every key with the value the model uses (defaults filled in, VTA's upper-case keys
mapped), as YAML that ``--hw`` accepts back, followed by what the numbers imply as
comments: peak MACs per cycle, DRAM bandwidth, and the machine balance (the roofline
ridge, int8 ops per DRAM byte). ``--json`` prints ``{"config": ..., "derived": ...}``;
its ``config`` object is a JSON hardware file.

Examples::

    fusiongym hardware                          # the default preset (mlu100)
    fusiongym hardware vta16 > my.yaml          # edit my.yaml, then --hw my.yaml
    fusiongym hardware my.yaml --json
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "hardware", help="show a hardware preset or file, resolved, with its machine balance",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default=None, metavar="PRESET|FILE",
                        help="a preset name or a YAML / JSON hardware file (default: mlu100)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    parser.set_defaults(run=run)
    return parser


def derived(hw) -> dict[str, float | int]:
    """What a hardware config implies, per core and for the whole machine."""
    bandwidth_gb_s = hw.dram_bandwidth_bytes_per_cycle * hw.clock_mhz * 1e6 / 1e9
    return {
        "macs_per_cycle_per_core": hw.macs_per_cycle,
        "peak_macs_per_cycle": hw.peak_macs_per_cycle,
        "peak_int8_tops": 2 * hw.peak_macs_per_cycle * hw.clock_mhz * 1e6 / 1e12,
        "dram_bandwidth_bytes_per_cycle": hw.dram_bandwidth_bytes_per_cycle,
        "dram_bandwidth_gb_per_s": bandwidth_gb_s,
        "machine_balance_ops_per_byte": hw.machine_balance_ops_per_byte,
        "inp_buff_kib": hw.inp_buff_bytes / 1024,
        "wgt_buff_kib": hw.wgt_buff_bytes / 1024,
        "acc_buff_kib": hw.acc_buff_bytes / 1024,
    }


def key_lines(mapping: dict) -> list[str]:
    """One ``key: value`` line per key whatever the preset holds (PyYAML would print a
    mapping of scalars alone as one flow-style blob), log2 fields commented with their
    unit and what the value means."""
    import yaml

    from fusiongym.accelerator.config import LOG2_FIELDS

    lines = []
    for key, value in mapping.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        text = text.removesuffix("...").strip()  # a plain scalar's end-of-document marker
        line = f"{key}: {text}"
        if key in LOG2_FIELDS:
            line += f"  # log2 of {LOG2_FIELDS[key]}: {1 << value:,} {LOG2_FIELDS[key]}"
        lines.append(line)
    return lines


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config

    hw = load_config(args.spec)
    facts = derived(hw)
    if args.json:
        print(json.dumps({"config": hw.file_mapping(), "derived": facts}, indent=2))
        return 0
    print(f"# hardware {hw.name}: every key, as --hw takes it back")
    for line in key_lines(hw.file_mapping()):
        print(line)
    print(f"# {hw.num_cores} cores x {hw.macs_per_cycle:,} MAC/cycle = "
          f"{hw.peak_macs_per_cycle:,} MAC/cycle = {facts['peak_int8_tops']:.4g} int8 TOPS "
          f"at {hw.clock_mhz:g} MHz")
    print(f"# DRAM {hw.dram_bandwidth_bytes_per_cycle:g} B/cycle = "
          f"{facts['dram_bandwidth_gb_per_s']:.4g} GB/s; machine balance "
          f"{hw.machine_balance_ops_per_byte:,.0f} int8 ops per DRAM byte")
    print(f"# per-core buffers: input {facts['inp_buff_kib']:g} KiB, weight "
          f"{facts['wgt_buff_kib']:g} KiB, accumulator {facts['acc_buff_kib']:g} KiB")
    return 0
