"""Spatial scheduling: workloads of several requests, placements of their fused groups on
disjoint core sets, and one simulation of a whole placement with shared DRAM.

- :mod:`~accelerator.spatial.workload`: requests (network + arrival) and their spellings;
- :mod:`~accelerator.spatial.placement`: groups with cores and launch order, validation, JSON;
- :mod:`~accelerator.spatial.simulate`: every group of a placement in one SimPy environment;
- :mod:`~accelerator.spatial.metrics`: makespan, per-request latency, throughput, STP, ANTT;
- :mod:`~accelerator.spatial.bounds`: a sound lower bound on a workload's makespan.
"""
