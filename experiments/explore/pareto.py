"""Pareto fronts, hypervolume, rank correlation and knob sensitivity (pure arithmetic).

Every objective vector here is **minimised** (a maximised objective arrives negated).

- :func:`pareto_front`: the indices of the non-dominated points (a point is dominated if
  another is no worse in every objective and better in one; equal points are kept once,
  the first).
- :func:`hypervolume`: the volume dominated by a set and bounded by a reference point,
  exact: a sweep in 2-D, slicing on the last objective above (the HSO scheme, fine for
  fronts of tens of points). Comparisons between searches normalise every objective to
  the same ``[ideal, nadir]`` box and use one reference point, so they are fractions of
  the same volume.
- :func:`spearman`: Spearman's rank correlation with average ranks for ties.
"""

from __future__ import annotations

import math
from typing import Sequence

Vector = Sequence[float]


def dominates(a: Vector, b: Vector) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: Sequence[Vector]) -> list[int]:
    front: list[int] = []
    for i, p in enumerate(points):
        if any(dominates(points[j], p) or (tuple(points[j]) == tuple(p) and j < i)
               for j in range(len(points)) if j != i):
            continue
        front.append(i)
    return front


def hypervolume(points: Sequence[Vector], reference: Vector) -> float:
    pts = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference))]
    if not pts:
        return 0.0
    pts = [pts[i] for i in pareto_front(pts)]
    return _hv(pts, tuple(reference))


def _hv(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    d = len(ref)
    if d == 1:
        return ref[0] - min(p[0] for p in pts)
    if d == 2:
        area, best_y = 0.0, ref[1]
        for x, y in sorted(pts):
            if y < best_y:
                area += (ref[0] - x) * (best_y - y)
                best_y = y
        return area
    # slice along the last objective: between consecutive levels the cross-section is the
    # (d-1)-volume of the points at or below the level
    levels = sorted({p[-1] for p in pts}) + [ref[-1]]
    vol = 0.0
    for lo, hi in zip(levels, levels[1:]):
        section = [p[:-1] for p in pts if p[-1] <= lo]
        front = [section[i] for i in pareto_front(section)]
        vol += _hv(front, ref[:-1]) * (hi - lo)
    return vol


def normaliser(points: Sequence[Vector]):
    """A function mapping a point into the unit box of ``points``' ideal..nadir."""
    lo = [min(p[k] for p in points) for k in range(len(points[0]))]
    hi = [max(p[k] for p in points) for k in range(len(points[0]))]

    def norm(p: Vector) -> tuple[float, ...]:
        return tuple((x - a) / (b - a) if b > a else 0.0 for x, a, b in zip(p, lo, hi))

    return norm


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("spearman needs two sequences of the same length >= 2")
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / var if var else 1.0


def sensitivity(knobs: Sequence[dict], values: Sequence[float]) -> dict[str, dict]:
    """Per knob: the best (smallest) value reached with the knob fixed to each choice, and
    the spread ``max(best) / min(best)`` — how much that knob alone decides the objective."""
    out: dict[str, dict] = {}
    for name in sorted(knobs[0]) if knobs else []:
        best: dict = {}
        for k, v in zip(knobs, values):
            choice = k[name]
            best[choice] = min(best.get(choice, math.inf), v)
        if len(best) < 2:
            continue
        lo, hi = min(best.values()), max(best.values())
        out[name] = {"best_by_choice": {str(c): b for c, b in best.items()},
                     "spread": hi / lo if lo > 0 else math.inf}
    return out
