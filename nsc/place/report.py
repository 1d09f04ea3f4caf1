"""The placement result and its report (docs/placement.md lists every field)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PlacementReport:
    """What a placement achieved and what is proven about it.

    ``gap = cores / lower_bound - 1`` (0 = proven minimal core count). ``traffic`` is the sum
    over routes of rate x route cost (spike-hops per tick, a chip-crossing hop costs
    ``chip_hop_weight``); ``mean_hops`` = traffic per spike and axon type. ``random_*`` are the
    expected values when the same neurons are shuffled at random over the same cores.
    ``solver_status``: ``OPTIMAL`` when every stage was proven (core count, cut traffic, mesh
    assignment), ``FEASIBLE`` when CP-SAT ran without proving every stage, ``HEURISTIC`` for
    the partition path. ``stages`` gives each stage's own status. ``lns`` (partition path
    only): the CP-SAT large-neighbourhood refinement's sub-problems (``rounds``), improving
    moves taken (``moves``), cores and cut traffic before and after, and budget ``work``.
    ``effort``: the effort level used; ``decisions``: per stage, whether it ran (and its
    status) or why it was skipped.
    """

    neurons: int
    host_lines: int
    keys: int
    cores: int
    lower_bound: int
    lower_bound_how: str
    gap: float
    traffic: float
    mean_hops: float
    random_traffic: float
    random_mean_hops: float
    solver_status: str
    seconds: float
    method: str
    chips: str
    hardware_cores: int
    chip_hop_weight: int
    rates: str
    axons_used: int
    slots_used: int
    copies: int
    max_axons: int
    max_slots: int
    cut_traffic: float
    cut_traffic_bound: float | None = None
    stages: dict[str, str] = field(default_factory=dict)
    lns: dict[str, float | int] = field(default_factory=dict)
    effort: str = "normal"
    decisions: dict[str, str] = field(default_factory=dict)
    chip_traffic: float = 0.0
    random_chip_traffic: float = 0.0
    lower_bounds: dict[str, int] = field(default_factory=dict)

    @property
    def hops_vs_random(self) -> float:
        """traffic / random traffic (below 1 is better than random; 0 when both are 0)."""
        return self.traffic / self.random_traffic if self.random_traffic else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus ``hops_vs_random``."""
        out = dataclasses.asdict(self)
        out["hops_vs_random"] = self.hops_vs_random
        return out

    def summary(self) -> str:
        """A few human-readable lines."""
        bound = f"lower bound {self.lower_bound:,}"
        if self.lower_bounds:
            bound += " (" + ", ".join(f"{k} {v:,}" for k, v in self.lower_bounds.items()) + ")"
        gap = "proven minimal" if self.gap == 0 else f"gap {self.gap:.1%}"
        return "\n".join(
            [
                f"placed {self.neurons:,} neurons on {self.cores:,} core(s) of {self.chips} "
                f"chip(s) ({bound}, {gap}; {self.solver_status}, {self.seconds:.2f} s)",
                f"axons {self.axons_used:,}, neuron slots {self.slots_used:,} "
                f"({self.copies:,} copies); fullest core {self.max_axons} axons, "
                f"{self.max_slots} slots",
                f"traffic {self.traffic:.4g} spike-hops/tick ({self.mean_hops:.3f} per spike), "
                f"random {self.random_traffic:.4g} ({self.random_mean_hops:.3f}); "
                f"ratio {self.hops_vs_random:.3f}",
                *(
                    [
                        f"between chips {self.chip_traffic:.4g} spikes/tick, random "
                        f"{self.random_chip_traffic:.4g}"
                    ]
                    if self.random_chip_traffic
                    else []
                ),
            ]
        )


@dataclass
class Placement:
    """``core_of[i]``: core of neuron ``i`` (0..C-1, int32, graph order); ``positions[c]``:
    global mesh ``(x, y)`` of core ``c`` (int32 array of shape ``(C, 2)``)."""

    core_of: np.ndarray
    positions: np.ndarray
    report: PlacementReport

    @property
    def n_cores(self) -> int:
        return int(self.positions.shape[0])
