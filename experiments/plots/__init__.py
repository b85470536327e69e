"""Plots of simulator traces, schedules and training runs (matplotlib, Agg, no pyplot).

Every public ``plot_*`` function builds a :class:`matplotlib.figure.Figure`, writes it when
given a ``path`` (PNG by default; SVG or PDF by the file's suffix; written atomically) and
returns it, so tests can inspect what was drawn.

- :mod:`experiments.plots.pipeline` -- per-instruction Gantt chart of the load / compute /
  store modules of every core and the shared DRAM bus, for a whole schedule.
- :mod:`experiments.plots.utilization` -- busy fraction per core and module, per group, and
  DRAM bandwidth over time against the peak.
- :mod:`experiments.plots.schedule_diagram` -- fused groups and core counts of 1..3
  schedules of one network, one row each.
- :mod:`experiments.plots.training` -- learning curve, speedup and quality-vs-cost plots of a
  run directory (the file contract is in that module's docstring).

matplotlib is imported inside the functions, never at import time, so the CLI starts fast.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from fusiongym.accelerator.errors import UserInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMAGE_FORMATS = ("png", "svg", "pdf")

# One colour per instruction kind (tab10, so neighbouring kinds stay distinguishable).
KIND_COLORS = {
    "LOAD.INP": "#1f77b4",   # blue
    "LOAD.WGT": "#9467bd",   # purple
    "LOAD.ACC": "#17becf",   # cyan
    "LOAD.UOP": "#bcbd22",   # olive
    "GEMM": "#ff7f0e",       # orange
    "ALU": "#2ca02c",        # green
    "STORE.OUT": "#d62728",  # red
}
KIND_ORDER = tuple(KIND_COLORS)
DRAM_COLOR = "#555555"
OTHER_COLOR = "#8c564b"
MODULE_COLORS = {"load": "#1f77b4", "compute": "#ff7f0e", "store": "#d62728"}


class PlotError(UserInputError):
    """A plot cannot be made from the given input (bad window, path, format, run dir)."""


def kind_color(kind: str) -> str:
    return KIND_COLORS.get(kind, OTHER_COLOR)


def kind_sort_key(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def new_figure(width_in: float, height_in: float, **kwargs) -> "Figure":
    """A figure on the Agg canvas, outside pyplot's global state (nothing leaks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def image_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in IMAGE_FORMATS:
        raise PlotError(f"{path}: unsupported image format {suffix!r} "
                        f"(use {', '.join('.' + f for f in IMAGE_FORMATS)})")
    return suffix


def save_figure(fig: "Figure", path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder, then rename).

    A path without a suffix gets ``.png``. Returns the path written.
    """
    path = Path(path)
    fmt = image_format(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PlotError(f"cannot create folder {str(path.parent)!r}: {err.strerror}") from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; images are for sharing
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=fmt, dpi=dpi)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def binned_overlap(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Per bin ``[edges[j], edges[j+1])``: sum over intervals of ``weight * overlap length``.

    With no weights this is the busy time per bin; with ``weight = bytes / duration`` it is
    the bytes moved per bin. Exact (no sampling): it differences the cumulative function
    ``F(t) = sum_i w_i * clip(t - s_i, 0, e_i - s_i)`` at the bin edges.
    """
    starts = np.asarray(starts, dtype=float)
    ends = np.asarray(ends, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if starts.size == 0:
        return np.zeros(max(len(edges) - 1, 0))
    w = np.ones_like(starts) if weights is None else np.asarray(weights, dtype=float)

    def cumulative(points: np.ndarray, t: np.ndarray) -> np.ndarray:
        order = np.argsort(points, kind="stable")
        p, pw = points[order], w[order]
        cw = np.concatenate(([0.0], np.cumsum(pw)))
        cwp = np.concatenate(([0.0], np.cumsum(pw * p)))
        k = np.searchsorted(p, t, side="left")  # points strictly before t
        return cw[k] * t - cwp[k]

    f = cumulative(starts, edges) - cumulative(ends, edges)
    return np.diff(f)


def thin_ticks(n: int, max_labels: int) -> int:
    """Label every k-th of ``n`` items so that at most ``max_labels`` labels show."""
    return max(1, -(-n // max_labels))


def as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


__all__: Sequence[str] = ("PlotError", "KIND_COLORS", "new_figure", "save_figure",
                          "binned_overlap", "image_format")
