"""An assignment of neurons to cores with exact, incrementally updated counts; the repair and
compaction steps of the partition path (docs/placement.md).

**Repair.** While a core is over capacity (axons or slots, counted exactly, copies included):
with too many axons, evict the neuron whose removal frees most of them to the core that
already holds most of its keys and stays within capacity everywhere (moving a listener can add
a copy on its source's core), or else to a new core numbered next to it; with too many slots
only, move half of its neurons (those whose keys sort last) to a new core, which keeps
listeners of a key together. A single neuron with more slots than a core holds cannot be
helped: :class:`DoesNotFitError` names it.

**Compaction.** Try to empty the least-loaded cores by moving all their neurons to other cores
within capacity (cores that share the neuron's keys; on small problems also the roomiest
cores); undo when one neuron finds no room. Stops after a budget of work.
"""

from __future__ import annotations

import numpy as np

from nsc_runtime import hw

from ..errors import DoesNotFitError
from .problem import TYPES, PlacementProblem
from .usage import Usage

CANDIDATES = 8  # destination cores tried per move (most shared keys first)
VICTIMS_TRIED = 8  # neurons tried per eviction (most relief first)
SPARE_CORES = 4  # roomiest cores also tried by compaction with ``spare`` (few cores only)
AXON_CAP, SLOT_CAP = hw.AXONS_PER_CORE, hw.NEURONS_PER_CORE


class PackState:
    """An assignment with exact, incrementally updated axon and slot counts.

    Per-key and per-core listener counts are kept as dicts, created on first touch from the
    global (vectorized) evaluation, so moving a neuron costs O(its keys).
    """

    def __init__(self, problem: PlacementProblem, core_of: np.ndarray, usage: Usage) -> None:
        self.problem = problem
        self.n = problem.n_neurons
        n_cores = usage.n_cores
        self.core_of = np.asarray(core_of, dtype=np.int64).copy()
        self.axons = list(map(int, usage.axons))
        self.slots = list(map(int, usage.slots))
        self.source_slots = usage.source_slots.astype(np.int64)
        self.routes = np.bincount(usage.route_key // TYPES, minlength=self.n).astype(np.int64)
        self.order_key = [float(c) for c in range(n_cores)]
        by_key = np.argsort(usage.pair_key, kind="stable")
        self._pair_core = usage.pair_core[by_key]
        self._pair_count = usage.pair_count[by_key]
        self._pair_ptr = np.zeros(problem.key_space + 1, np.int64)
        np.cumsum(np.bincount(usage.pair_key, minlength=problem.key_space), out=self._pair_ptr[1:])
        by_core = np.argsort(self.core_of, kind="stable")
        self._member_ptr = np.zeros(n_cores + 1, np.int64)
        np.cumsum(np.bincount(self.core_of, minlength=n_cores), out=self._member_ptr[1:])
        self._member_list = by_core
        self._key_cores: dict[int, dict[int, int]] = {}
        self._core_keys: dict[int, dict[int, int]] = {}
        self._members: dict[int, set[int]] = {}
        self._initial_cores = n_cores
        self.work = 0  # keys and (key, core) pairs examined: a machine-independent clock

    # -- lazily built local views -----------------------------------------------------------
    def keys_of(self, i: int) -> list[int]:
        p = self.problem
        return p.keys[p.ptr[i] : p.ptr[i + 1]].tolist()

    def members(self, c: int) -> set[int]:
        found = self._members.get(c)
        if found is None:
            found = set()
            if c < self._initial_cores:
                lo, hi = self._member_ptr[c], self._member_ptr[c + 1]
                found = set(self._member_list[lo:hi].tolist())
            self._members[c] = found
        return found

    def core_keys(self, c: int) -> dict[int, int]:
        found = self._core_keys.get(c)
        if found is None:
            found = {}
            for i in self.members(c):
                for k in self.keys_of(i):
                    found[k] = found.get(k, 0) + 1
            self._core_keys[c] = found
        return found

    def key_cores(self, k: int) -> dict[int, int]:
        found = self._key_cores.get(k)
        if found is None:
            lo, hi = self._pair_ptr[k], self._pair_ptr[k + 1]
            cores, counts = self._pair_core[lo:hi].tolist(), self._pair_count[lo:hi].tolist()
            found = dict(zip(cores, counts, strict=True))
            self._key_cores[k] = found
        return found

    # -- queries ----------------------------------------------------------------------------
    @property
    def n_cores(self) -> int:
        return len(self.axons)

    def over(self, c: int) -> bool:
        return self.axons[c] > AXON_CAP or self.slots[c] > SLOT_CAP

    def overflowing(self) -> list[int]:
        ax, sl = np.asarray(self.axons), np.asarray(self.slots)
        excess = np.maximum(ax - AXON_CAP, 0) + np.maximum(sl - SLOT_CAP, 0)
        over = np.flatnonzero(excess > 0)
        return over[np.argsort(-excess[over], kind="stable")].tolist()

    def move_effect(self, i: int, dest: int) -> tuple[int, dict[int, int]] | None:
        """``(new axons on dest, slot change per core)`` of moving ``i`` to ``dest``, or None
        when the move would push a core over capacity (cores already over may shrink)."""
        frm = int(self.core_of[i])
        to_keys, from_keys = self.core_keys(dest), self.core_keys(frm)
        new_axons = 0
        route_delta: dict[int, int] = {}
        limit_n = self.n * TYPES
        room = AXON_CAP - self.axons[dest]
        for k in self.keys_of(i):
            delta = 0
            if k not in to_keys:
                new_axons += 1
                if new_axons > room:
                    return None
                delta += 1
            if from_keys[k] == 1:
                delta -= 1
            if delta and k < limit_n:
                s = k // TYPES
                route_delta[s] = route_delta.get(s, 0) + delta
        slot_delta: dict[int, int] = {}
        own = int(self.source_slots[i])
        for s, d in route_delta.items():
            new = max(1, int(self.routes[s]) + d)
            if s == i:
                own = new
                continue
            change = new - int(self.source_slots[s])
            if change:
                c = int(self.core_of[s])
                slot_delta[c] = slot_delta.get(c, 0) + change
        slot_delta[frm] = slot_delta.get(frm, 0) - int(self.source_slots[i])
        slot_delta[dest] = slot_delta.get(dest, 0) + own
        for c, d in slot_delta.items():
            if d > 0 and self.slots[c] + d > SLOT_CAP:
                return None
        return new_axons, slot_delta

    def candidates(self, i: int, exclude: int) -> list[int]:
        """Cores that already hold most of ``i``'s keys and have axons to spare for the rest
        (most shared keys first), at most ``CANDIDATES``."""
        overlap: dict[int, int] = {}
        keys = self.keys_of(i)
        visited = len(keys)
        for k in keys:
            cores = self.key_cores(k)
            visited += len(cores)
            for c in cores:
                overlap[c] = overlap.get(c, 0) + 1
        self.work += visited
        overlap.pop(exclude, None)
        need = int(self.problem.ptr[i + 1] - self.problem.ptr[i])
        fitting = [
            (-shared, c)
            for c, shared in overlap.items()
            if self.axons[c] + need - shared <= AXON_CAP
        ]
        fitting.sort()
        return [c for _, c in fitting[:CANDIDATES]]

    def best_destination(self, i: int, extra: list[int]) -> int | None:
        """The feasible core that adds the fewest axons (candidates come in that order, then
        ``extra``), or None."""
        frm = int(self.core_of[i])
        for c in [*self.candidates(i, frm), *extra]:
            if c != frm and self.move_effect(i, c) is not None:
                return c
        return None

    # -- updates ----------------------------------------------------------------------------
    def move(self, i: int, dest: int) -> None:
        """Move neuron ``i`` to core ``dest``, updating every count exactly."""
        frm = int(self.core_of[i])
        from_keys, to_keys = self.core_keys(frm), self.core_keys(dest)
        limit_n = self.n * TYPES
        for k in self.keys_of(i):
            cores = self.key_cores(k)
            delta = 0
            left = from_keys[k] - 1
            if left:
                from_keys[k] = left
                cores[frm] = left
            else:
                del from_keys[k]
                del cores[frm]
                self.axons[frm] -= 1
                delta -= 1
            if k in to_keys:
                to_keys[k] += 1
                cores[dest] += 1
            else:
                to_keys[k] = 1
                cores[dest] = 1
                self.axons[dest] += 1
                delta += 1
            if delta and k < limit_n:
                self._add_routes(k // TYPES, delta)
        own = int(self.source_slots[i])
        self.slots[frm] -= own
        self.slots[dest] += own
        self.members(frm).discard(i)
        self.members(dest).add(i)
        self.core_of[i] = dest

    def _add_routes(self, s: int, delta: int) -> None:
        self.routes[s] += delta
        new = max(1, int(self.routes[s]))
        self.slots[int(self.core_of[s])] += new - int(self.source_slots[s])
        self.source_slots[s] = new

    def open_core(self, after: int) -> int:
        """A new, empty core numbered right after core ``after`` in the final order."""
        self.axons.append(0)
        self.slots.append(0)
        self.order_key.append(self.order_key[after] + 0.5 * (1 - 1 / (2 + len(self.axons))))
        c = len(self.axons) - 1
        self._members[c] = set()
        self._core_keys[c] = {}
        return c

    # -- phases -----------------------------------------------------------------------------
    def victims(self, c: int) -> list[int]:
        """Neurons of core ``c``, those whose eviction relieves it most first: many keys no
        other neuron of ``c`` needs (axons over), many slots (slots over)."""
        counts = self.core_keys(c)
        axon_over = self.axons[c] > AXON_CAP
        slot_over = self.slots[c] > SLOT_CAP
        scored = []
        for i in self.members(c):
            keys = self.keys_of(i)
            private = sum(1 for k in keys if counts[k] == 1)
            score = 0.0
            if axon_over:
                score += private - 0.001 * (len(keys) - private)
            if slot_over:
                score += float(self.source_slots[i])
            scored.append((-score, i))
        scored.sort()
        return [i for _, i in scored[:VICTIMS_TRIED]]

    def eviction(self, c: int, spill: list[int]) -> tuple[int, int]:
        """(neuron, destination) that relieves core ``c`` without overloading another core:
        an existing core if one can take a top victim, else a fresh core (``spill``) whose
        new copies still fit on the victims' sources' cores, else the top victim alone."""
        ranked = self.victims(c)
        for i in ranked:
            dest = self.best_destination(i, spill[-1:])
            if dest is not None:
                return i, dest
        fresh = next((s for s in spill if self.slots[s] == 0), None)
        if fresh is None:
            fresh = self.open_core(c)
            spill.append(fresh)
        for i in ranked:
            if self.move_effect(i, fresh) is not None:
                return i, fresh
        return ranked[0], fresh

    def repair(self) -> None:
        """Move neurons until no core is over capacity, opening cores when needed."""
        budget = 2 * self.n + 1000
        overflowing = self.overflowing()
        while overflowing:
            for c in overflowing:
                spill: list[int] = []
                while self.over(c):
                    budget -= 1
                    if len(self.members(c)) == 1 or budget < 0:
                        raise self.too_many_copies(max(self.members(c), key=self.slots_of))
                    if self.axons[c] <= AXON_CAP:
                        self.split(c)
                        continue
                    self.move(*self.eviction(c, spill))
            overflowing = self.overflowing()

    def split(self, c: int) -> None:
        """Halve a core that has too many slots: the half whose keys sort last moves to a new
        core. Moving a coherent half, not single neurons, keeps listeners of a key together,
        so the copies the split adds are few and the new core is well filled."""
        members = sorted(self.members(c), key=lambda i: (self._median_key(i), i))
        fresh = self.open_core(c)
        for i in members[len(members) // 2 :]:
            self.move(i, fresh)

    def _median_key(self, i: int) -> int:
        p = self.problem
        lo, hi = int(p.ptr[i]), int(p.ptr[i + 1])
        return int(p.keys[(lo + hi) // 2]) if hi > lo else -1

    def slots_of(self, i: int) -> int:
        return int(self.source_slots[i])

    def too_many_copies(self, i: int) -> DoesNotFitError:
        """The error when copies of ``i`` (with its core's other neurons) cannot fit."""
        p = self.problem
        cores = {c for t in range(TYPES) for c in self.key_cores(i * TYPES + t)}
        listeners = sorted({int(j) for c in cores for j in self.members(c) if self._hears(j, i)})
        widths = np.diff(p.ptr)[listeners] if listeners else np.zeros(1, np.int64)
        return DoesNotFitError(
            f"{p.describe(i)} needs {self.slots_of(i)} neuron slots on its core (itself and "
            f"one copy per (core, axon type) it feeds; its {len(listeners):,} listeners, which "
            f"need {float(widths.mean()):.0f} axons each on average, sit on {len(cores)} "
            f"cores), and placement found no way to gather its listeners on fewer cores or "
            f"to fit {self.n_cores:,} cores within {SLOT_CAP} slots each. Reduce its fan-out "
            "with relay neurons, or lower its listeners' fan-in (split-fanin with a smaller "
            "max) so that they can share cores."
        )

    def _hears(self, j: int, s: int) -> bool:
        """Whether neuron ``j`` needs any key of source ``s``."""
        p = self.problem
        keys = p.keys[p.ptr[j] : p.ptr[j + 1]]
        lo = int(np.searchsorted(keys, s * TYPES))
        return lo < len(keys) and int(keys[lo]) < (s + 1) * TYPES

    def compact(self, budget: int, *, spare: bool = False) -> None:
        """Empty the least-loaded cores into the others, within ``budget`` units of work.

        With ``spare`` (few cores only: it costs O(cores) per emptied core), a neuron that no
        core sharing its keys can take may also go to one of the :data:`SPARE_CORES` cores with
        the most free room: this merges small groups whose keys no other core holds (e.g. the
        last sum neurons of a split-fanin population into a part core)."""
        load = [
            max(a / AXON_CAP, s / SLOT_CAP) for a, s in zip(self.axons, self.slots, strict=True)
        ]
        order = sorted(range(self.n_cores), key=lambda c: (load[c], c))
        stop = self.work + budget
        for c in order:
            if self.work > stop:
                return
            if not self.members(c) or len(self.members(c)) > SLOT_CAP // 2:
                continue
            extra = self.roomiest(exclude=c) if spare else []
            moved: list[int] = []
            for i in sorted(self.members(c)):
                dest = self.best_destination(i, extra)
                if dest is None:
                    break
                self.move(i, dest)
                moved.append(i)
            if self.members(c):
                for i in reversed(moved):
                    self.move(i, c)

    def roomiest(self, exclude: int) -> list[int]:
        """Up to :data:`SPARE_CORES` non-empty cores other than ``exclude``, most free room
        (the smaller of free axons and free slots) first, ties by number."""
        room = [
            (-min(AXON_CAP - a, SLOT_CAP - s), c)
            for c, (a, s) in enumerate(zip(self.axons, self.slots, strict=True))
            if c != exclude and s > 0 and a < AXON_CAP and s < SLOT_CAP
        ]
        room.sort()
        self.work += len(room)
        return [c for _, c in room[:SPARE_CORES]]

    def numbered(self) -> tuple[np.ndarray, int]:
        """``(core_of, n_cores)`` without empty cores, numbered by partition order."""
        used = [c for c in range(self.n_cores) if self.slots[c] > 0]
        used.sort(key=lambda c: self.order_key[c])
        relabel = np.full(self.n_cores, -1, np.int64)
        relabel[used] = np.arange(len(used))
        return relabel[self.core_of].astype(np.int32), len(used)
