"""Workloads: what the accelerator runs.

``network`` holds the layer/network model (shapes, MACs, bytes, content hash), ``zoo`` the
built-in networks, ``onnx_import`` real models from ``.onnx`` files, and ``loader`` the one
function that turns a name, ``synthetic:...`` spec or ``.onnx`` path into a Network.
"""
