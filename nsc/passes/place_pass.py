"""place: choose a core for every neuron (nsc.place, OR-Tools) and record it in the IR.

Before: encoded synapses (:class:`AxonSynapses`). After: every :class:`Neurons` node has
``core`` set and a :class:`CoreLayout` node ``%layout`` holds every core's mesh position, so
a placed graph dumped to text resumes with the same placement. ``ctx.placement`` keeps the
placer's report for the caller. The placer itself only reads the IR; this pass records its
answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PassError
from ..ir import CoreLayout, Graph
from .pipeline import Context, Pass, register


@register
@dataclass(frozen=True)
class Place(Pass):
    """Place neurons onto cores (fewest cores, then least hop-weighted traffic)."""

    name = "place"
    requires = "encoded"
    produces = "placed"
    time_limit: float = 0.0  # 0: take the compile call's time limit
    effort: str = "normal"  # fast, normal, max, or a budget multiplier (docs/placement.md)
    seed: int = 0

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        from ..place import Effort, Hardware, apply_placement, place

        try:
            Effort.parse(self.effort)
        except ValueError as err:
            raise PassError(f"place: {err}") from None
        hardware = ctx.hardware or Hardware()
        limit = self.time_limit or ctx.time_limit
        ctx.placement = place(graph, hardware, time_limit=limit, effort=self.effort, seed=self.seed)
        out = apply_placement(graph, ctx.placement)
        for old in out.of_type(CoreLayout):
            del out.nodes[old.name]
        out.add(CoreLayout(out.fresh_name("layout"), positions=ctx.placement.positions))
        return out
