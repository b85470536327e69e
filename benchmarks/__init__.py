"""fusiongym performance benchmarks (not tests): ``python -m fusiongym.benchmarks`` / ``fusiongym bench``.

B1  event rate: the model's SimPy events/s (ResNet-18; no-fusion and oracle schedules on 1
    and 16 cores; simulated cold) against a bare SimPy fetch/load/compute/store pipeline
    built from the same primitives; ratio model / bare (target >= 0.6).
B2  full-network evaluation from a cold cache: ResNet-18/50, MobileNetV2, VGG-16 under
    no-fusion (default and max cores) and the oracle's schedule.
B3  the exact oracle on every zoo network: seconds and simulator calls, cold and warm memo.
B4  FusionEnv steps/s with random masked actions (cold, warm) and MaskablePPO steps/s.
B5  peak RSS of B2 and B3, one fresh process per network.

Results (with machine info and ``git rev-parse HEAD``) go to ``benchmarks/results/NAME.json``;
``--markdown`` prints README-ready tables, ``--quick`` runs in under two minutes. What
exactly is timed is written into every results file (``method``).
"""
