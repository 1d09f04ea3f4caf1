"""A picture of a placement: cores on the mesh shaded by use, the heaviest routes drawn."""

from __future__ import annotations

import os

import numpy as np

from nsc_runtime import hw
from nsc_runtime.atomic import atomic_path

from .problem import PlacementProblem
from .report import Placement
from .usage import core_pairs, evaluate

ROUTES_DRAWN = 200


def plot_placement(
    placement: Placement, problem: PlacementProblem, path: str | os.PathLike[str]
) -> None:
    """Write a PNG: each used core at its mesh position, coloured by utilization
    ``max(axons, neuron slots) / 256``; lines for the ``ROUTES_DRAWN`` heaviest inter-core
    routes (width by spike rate); dashed lines at chip boundaries. Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    usage = evaluate(problem, placement.core_of, placement.n_cores)
    util = np.maximum(usage.axons / hw.AXONS_PER_CORE, usage.slots / hw.NEURONS_PER_CORE)
    pos = placement.positions.astype(np.int64)
    fig = Figure(figsize=(7, 6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if pos.size:
        lo = pos.min(axis=0)
        hi = pos.max(axis=0)
        grid = np.full((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), np.nan)
        grid[pos[:, 1] - lo[1], pos[:, 0] - lo[0]] = util
        extent = (lo[0] - 0.5, hi[0] + 0.5, hi[1] + 0.5, lo[1] - 0.5)
        image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, extent=extent)
        fig.colorbar(image, ax=ax, label="core utilization (max of axons, slots) / 256")
        _chip_lines(ax, lo, hi)
        pairs, rate = core_pairs(problem, placement.core_of, usage)
        if rate.size:
            top = np.argsort(-rate, kind="stable")[:ROUTES_DRAWN]
            segments = np.stack([pos[pairs[top, 0]], pos[pairs[top, 1]]], axis=1)
            widths = 0.5 + 3.0 * rate[top] / rate[top].max()
            ax.add_collection(
                LineCollection(list(segments), linewidths=widths, colors="tab:red", alpha=0.6)
            )
    report = placement.report
    ax.set_title(
        f"{report.neurons:,} neurons on {report.cores:,} cores "
        f"(bound {report.lower_bound:,}); traffic / random {report.hops_vs_random:.2f}",
        fontsize=9,
    )
    ax.set_xlabel("mesh x")
    ax.set_ylabel("mesh y")
    with atomic_path(path, make_parents=True) as tmp:
        fig.savefig(tmp, format="png")


def _chip_lines(ax: object, lo: np.ndarray, hi: np.ndarray) -> None:
    side = hw.CORES_PER_CHIP_SIDE
    for x in range((lo[0] // side + 1) * side, hi[0] + 1, side):
        ax.axvline(x - 0.5, color="grey", linestyle="--", linewidth=0.8)  # type: ignore[attr-defined]
    for y in range((lo[1] // side + 1) * side, hi[1] + 1, side):
        ax.axhline(y - 0.5, color="grey", linestyle="--", linewidth=0.8)  # type: ignore[attr-defined]
