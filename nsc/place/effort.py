"""How much improvement work placement spends after its first answer (docs/placement.md).

Placement is anytime: the partition path gives a complete, feasible answer at once, and each
improvement stage (CP-SAT on cores, cut traffic and mesh positions; compaction and LNS on
large problems) then gets a *budget*, in deterministic units (CP-SAT's deterministic seconds,
or compaction work converted at a fixed rate), never wall time, so that one input gives one
answer on any machine. A stage runs only while it can still win: the core-count model is
skipped when the start meets the lower bound, CP-SAT stops as soon as it proves optimality, and
a model too large to build and solve within its budget is not built.

``effort`` scales every budget:

- ``"fast"`` (0): no CP-SAT stage at all; compaction at a tenth of its normal budget;
- ``"normal"`` (1, the default): budgets sized to the problem, so that networks of up to about
  ten cores place in well under a second;
- ``"max"``: every stage gets its fixed share of ``time_limit`` (the behaviour before effort
  levels existed; ``time_limit`` 10 s by default);
- a number ``x >= 0``: ``x`` times the normal budgets.

Every budget is also capped by its share of ``time_limit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EFFORTS = {"fast": 0.0, "normal": 1.0, "max": math.inf}
FAST_COMPACTION = 0.1  # share of the normal compaction budget that "fast" still spends

# shares of time_limit (caps): compaction (large problems; small ones go on to the exact
# model), the two exact stages, the mesh assignment, LNS.
COMPACT_SHARE, SMALL_COMPACT_SHARE = 0.6, 0.05
CORES_SHARE, CUT_SHARE, MESH_SHARE = 0.4, 0.3, 0.2
LNS_SHARE = 0.3

# normal budgets (deterministic seconds) and model size limits
COMPACT_BASE, SMALL_COMPACT_BASE = 6.0, 0.5
LNS_BASE = 1.0  # LNS found no move on the benchmark families (docs/benchmarks.md)
EXACT_BASE = 0.1  # CP-SAT seconds per exact stage, plus EXACT_PER_TERM per model term
EXACT_PER_TERM = 1 / 300_000
CORES_NORMAL_TERMS = 20_000  # (neuron, key) entries x cores: largest core-count model at 1
CUT_NORMAL_TERMS = 8_000  # largest cut-traffic model at effort 1 (it rarely gains more)
MESH_BASE = 0.05
MESH_HARD_CORES = 6  # from this many cores the mesh model needs MESH_HARD_SECONDS to help
MESH_HARD_SECONDS = 1.0
# the shares bound's overlaps (multiply-adds, nsc.place.shares): computed only when the start
# misses the cheaper bounds; "fast" skips them. Covers the million-neuron split tree of
# benchmarks/place_scale.py (1.0 * 10^12: its part populations are groups of 4,096 neurons
# sharing 256 keys, as a hidden unit feeds its own layer's and the next layer's parts; 65 s
# here at load 2-4)
OVERLAP_WORK = 2 * 10**12


@dataclass(frozen=True)
class Effort:
    """A parsed ``effort`` option: ``scale`` multiplies the normal budgets."""

    name: str
    scale: float

    @classmethod
    def parse(cls, effort: str | float | Effort) -> Effort:
        """``"fast"``, ``"normal"``, ``"max"`` or a number >= 0 (module docstring)."""
        if isinstance(effort, Effort):
            return effort
        if isinstance(effort, str):
            key = effort.strip().lower()
            if key in EFFORTS:
                return cls(key, EFFORTS[key])
            try:
                value = float(key)
            except ValueError:
                raise ValueError(
                    f"effort must be fast, normal, max or a number >= 0, got {effort!r}"
                ) from None
        elif isinstance(effort, (int, float)) and not isinstance(effort, bool):
            value = float(effort)
        else:
            raise ValueError(f"effort must be fast, normal, max or a number >= 0, got {effort!r}")
        if not value >= 0:  # also refuses nan
            raise ValueError(f"effort must be >= 0, got {value}")
        return cls(f"{value:g}", value)

    def budget(self, time_limit: float, share: float, base: float) -> float:
        """``min(share * time_limit, scale * base)`` deterministic seconds."""
        cap = share * time_limit
        if math.isinf(self.scale):
            return cap
        return min(cap, self.scale * base)

    def compaction(self, time_limit: float, share: float, base: float) -> float:
        """Compaction budget: as :meth:`budget`, but "fast" keeps a tenth of the normal one."""
        cap = share * time_limit
        if math.isinf(self.scale):
            return cap
        return min(cap, max(self.scale, FAST_COMPACTION) * base)

    def exact_terms(self, normal_terms: int) -> float:
        """Largest exact model (terms) worth building at this effort, given the normal one."""
        return self.scale * normal_terms

    def overlap_work(self) -> float:
        """Work of the shares bound's overlaps at this effort (multiply-adds)."""
        return self.scale * OVERLAP_WORK

    def __str__(self) -> str:
        return self.name
