"""``fusiongym networks``: list the built-in networks, or describe one network / ONNX file.

Examples::

    fusiongym networks                      # the zoo: layers, GMACs, weight MiB, hash
    fusiongym networks resnet18 --layers    # one network, layer by layer
    fusiongym networks synthetic:7:20       # a synthetic network (seed 7, 20 layers)
    fusiongym networks --onnx model.onnx    # what fusiongym makes of an ONNX file
    fusiongym networks --json               # the same, for scripts
"""

from __future__ import annotations

import argparse
import json
import sys

MIB = 2**20


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "networks", help="list built-in networks or describe one (or an ONNX file)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="networks to show (default: the whole zoo); also "
                             "synthetic:SEED[:NLAYERS[:KIND]]")
    parser.add_argument("--onnx", metavar="FILE", help="describe an ONNX model file instead")
    parser.add_argument("--layers", action="store_true",
                        help="per-layer details (always on for --onnx)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.workloads.zoo import get_network, zoo_names

    if args.onnx:
        if args.names:
            from fusiongym.accelerator.errors import UserInputError

            raise UserInputError("give network names or --onnx FILE, not both")
        return _describe_onnx(args)
    networks = [get_network(name) for name in (args.names or zoo_names())]
    if args.json:
        print(json.dumps([_summary(net, with_layers=args.layers) for net in networks],
                         indent=2))
        return 0
    from fusiongym.experiments.cli.output import format_table

    print(format_table(
        ["name", "layers", "GMACs", "weight MiB", "hash"],
        [[net.name, len(net), net.macs / 1e9, net.weight_bytes() / MIB, net.content_hash()]
         for net in networks]))
    if args.layers:
        for net in networks:
            print(f"\n{net.name}")
            print(_layer_table(net))
    return 0


def _describe_onnx(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.workloads.onnx_import import import_onnx

    from fusiongym.experiments.cli.schedule_output import batch_notes

    result = import_onnx(args.onnx)
    net = result.network
    batch = batch_notes(result.notes)
    for note in batch:  # every number below is for batch 1: say so where a human looks
        print(f"fusiongym: note: {note}", file=sys.stderr)
    if args.json:
        summary = _summary(net, with_layers=True)
        summary.update(file=str(args.onnx), opset=result.opset, producer=result.producer,
                       folded=result.folded, shape_only=result.shape_only,
                       host_side=result.host_side, notes=list(result.notes))
        print(json.dumps(summary, indent=2))
        return 0
    c, h, w = net.input_shape
    print(f"{args.onnx}: {len(net)} layers, {net.macs / 1e9:.4g} GMACs, "
          f"{net.weight_bytes() / MIB:.4g} MiB weights (int8), input {c}x{h}x{w}, "
          f"batch {net.layers[0].batch}, opset {result.opset}, hash {net.content_hash()}")
    for note in batch:
        print(f"note: {note}")
    for label, counts in (("folded", result.folded), ("shape-only", result.shape_only),
                          ("host-side", result.host_side)):
        if counts:
            print(f"{label}: " + ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())))
    print()
    print(_layer_table(net))
    return 0


def _summary(net, with_layers: bool) -> dict:
    summary = net.summary()  # name, layers, macs, weight_bytes, hash
    if with_layers:
        summary["layer_details"] = [
            {**layer.to_dict(), "h_out": layer.h_out, "w_out": layer.w_out,
             "macs": layer.macs, "weight_bytes": layer.weight_bytes()}
            for layer in net.layers]
    return summary


def _layer_table(net) -> str:
    from fusiongym.experiments.cli.output import format_table

    rows = []
    for i, layer in enumerate(net.layers):
        kind = layer.kind.value + ("" if layer.activation == "none" else f"+{layer.activation}")
        geometry = "-"
        if layer.kind.value not in ("add", "concat", "global_avg_pool", "dense"):
            geometry = f"{layer.kernel[0]}x{layer.kernel[1]}/{layer.stride[0]}"
        rows.append([i, layer.name, kind, f"{layer.c_in}x{layer.h_in}x{layer.w_in}",
                     f"{layer.c_out}x{layer.h_out}x{layer.w_out}", geometry, layer.macs,
                     ",".join("input" if p < 0 else str(p) for p in layer.inputs) or "input"])
    return format_table(["#", "name", "kind", "in CxHxW", "out CxHxW", "kernel/stride",
                         "MACs", "inputs"], rows)
