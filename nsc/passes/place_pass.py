"""place: choose a core for every neuron (nsc.place, OR-Tools) and record it in the IR.

Before: encoded synapses (:class:`AxonSynapses`). After: every :class:`Neurons` node has
``core`` set; ``ctx.placement`` holds the placement (mesh positions, report). The placer
itself only reads the IR; this pass records its answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph
from .pipeline import Context, Pass, register


@register
@dataclass(frozen=True)
class Place(Pass):
    """Place neurons onto cores (fewest cores, then least hop-weighted traffic)."""

    name = "place"
    time_limit: float = 0.0  # 0: take the compile call's time limit

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        from ..place import Hardware, apply_placement, place

        hardware = ctx.hardware or Hardware()
        limit = self.time_limit or ctx.time_limit
        ctx.placement = place(graph, hardware, time_limit=limit)
        return apply_placement(graph, ctx.placement)
