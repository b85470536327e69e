"""Reading an ``.onnx`` file without ``import onnx``.

``import onnx`` costs about a second on an idle machine (three under load), nearly all of
it ``ml_dtypes``, which ``onnx.helper`` pulls in, while parsing a model needs only the
protobuf message classes. ONNX ships them as generated code (``onnx/onnx_ml_pb2.py``, which
imports nothing but ``google.protobuf``), so we execute that one file on its own. The
message classes live in protobuf's default descriptor pool, so a later ``import onnx`` in
the same process finds the same descriptors and returns the same classes (checked by
tests). When ``onnx`` is already imported we simply use it.

The attribute and integer-tensor readers below replace ``onnx.helper.get_attribute_value``
and ``onnx.numpy_helper.to_array`` for the few cases the importer needs.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def model_proto_class():
    """``onnx.ModelProto``, without importing the ``onnx`` package when it is not loaded."""
    if "onnx" in sys.modules:
        return sys.modules["onnx"].ModelProto
    package = importlib.util.find_spec("onnx")  # locates the package, does not run it
    if package is None or not package.submodule_search_locations:
        raise ImportError("the onnx package is not installed (pip install onnx)")
    source = Path(package.submodule_search_locations[0]) / "onnx_ml_pb2.py"
    spec = importlib.util.spec_from_file_location("_fusiongym_onnx_ml_pb2", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.ModelProto


def parse_model(data: bytes):
    """A ModelProto from the bytes of an ``.onnx`` file (weights' external data not read)."""
    return model_proto_class().FromString(data)


# AttributeProto.AttributeType values (onnx.proto)
_FLOAT, _INT, _STRING, _TENSOR, _GRAPH, _FLOATS, _INTS, _STRINGS, _TENSORS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9)


def attribute_value(attr):
    """The Python value of a NodeProto attribute, as ``onnx.helper.get_attribute_value``."""
    kind = attr.type
    if kind == _FLOAT:
        return attr.f
    if kind == _INT:
        return attr.i
    if kind == _STRING:
        return attr.s
    if kind == _TENSOR:
        return attr.t
    if kind == _GRAPH:
        return attr.g
    if kind == _FLOATS:
        return list(attr.floats)
    if kind == _INTS:
        return list(attr.ints)
    if kind == _STRINGS:
        return list(attr.strings)
    if kind == _TENSORS:
        return list(attr.tensors)
    raise ValueError(f"attribute {attr.name!r} has an unsupported type {kind}")


# TensorProto.DataType values of the integer tensors shape arguments use
_INT32, _INT64 = 6, 7


def tensor_ints(tensor) -> list[int]:
    """The values of an int32 / int64 tensor (reshape targets, split sizes, axes)."""
    if tensor.data_type not in (_INT32, _INT64):
        raise ValueError(f"tensor {tensor.name!r} is not an integer tensor")
    if tensor.raw_data:
        code = "q" if tensor.data_type == _INT64 else "i"
        count = len(tensor.raw_data) // struct.calcsize(code)
        return list(struct.unpack(f"<{count}{code}", tensor.raw_data))
    return list(tensor.int64_data if tensor.data_type == _INT64 else tensor.int32_data)


_FLOAT32, _FLOAT16, _DOUBLE = 1, 10, 11


def tensor_floats(tensor) -> list[float]:
    """The values of a float32 / float16 / float64 tensor (Resize / Upsample scales)."""
    codes = {_FLOAT32: "f", _FLOAT16: "e", _DOUBLE: "d"}
    code = codes.get(tensor.data_type)
    if code is None:
        raise ValueError(f"tensor {tensor.name!r} is not a floating-point tensor")
    if tensor.raw_data:
        count = len(tensor.raw_data) // struct.calcsize(code)
        return list(struct.unpack(f"<{count}{code}", tensor.raw_data))
    if tensor.data_type == _FLOAT16:  # stored as the bit patterns in int32_data
        return [struct.unpack("<e", struct.pack("<H", bits))[0] for bits in tensor.int32_data]
    return list(tensor.double_data if tensor.data_type == _DOUBLE else tensor.float_data)
