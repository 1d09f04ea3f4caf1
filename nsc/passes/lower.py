"""replicate-fanout and lower-to-cores: from placed neurons to 256 x 256 cores.

Both need a placement (every :class:`Neurons` node's ``core`` set, see :mod:`nsc.place`).

A *physical axon* is identified by its driver and where it lands: ``(source, neuron or host
feature, axon type, target core, delay)``. Neurons on one core that listen to the same source
with the same type share one axon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nsc_runtime import hw

from ..errors import DoesNotFitError, PassError
from ..ir import (
    AxonSynapses,
    Core,
    CoreInput,
    CoreLayout,
    CoreOutput,
    Graph,
    Neurons,
    QLinear,
    SpikeCount,
    Synapses,
)
from ..ir.nodes import NEURON_ARRAYS
from .pipeline import Context, Pass, register


def _cores(pop: Neurons) -> np.ndarray:
    if pop.core is None:
        raise pop.fail("has no placement (core); run place first")
    return pop.core


def _require_placed(g: Graph, pass_name: str) -> None:
    for s in g.of_type(Synapses):
        raise s.fail(f"{pass_name} needs encoded synapses: run encode-weights first")
    for pop in g.of_type(Neurons):
        if pop.core is None or (pop.core < 0).any():
            raise pop.fail(f"{pass_name} needs a placement: run place first")


_KEY_SPAN = hw.AXON_TYPES * (hw.DELAY_MAX + 1)  # (type, delay) codes per target core


def _key_codes(core: np.ndarray, axon_type: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """One int64 per ``(axon type, target core, delay)`` key: distinct keys, distinct codes
    (types below ``AXON_TYPES``, delays at most ``DELAY_MAX``); only compared for equality."""
    return (core.astype(np.int64) * hw.AXON_TYPES + axon_type) * (hw.DELAY_MAX + 1) + delay


def _first_rank(group: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order ``(group, first)`` rows by group, then by ``first``; returns that order and each
    row's rank within its group (0 for the row with the smallest ``first``)."""
    order = np.lexsort((first, group))
    g = group[order]
    n = g.shape[0]
    starts = np.ones(n, bool)
    starts[1:] = g[1:] != g[:-1]
    pos = np.arange(n)
    rank_sorted = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    rank = np.empty(n, np.int64)
    rank[order] = rank_sorted
    return order, rank


def _nonzero(crossbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(crossbar)
    return rows, cols


def _set_cells(crossbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero(crossbar)`` (row-major), reading a C-contiguous bool matrix 8 cells at a
    time where it is mostly empty (the copies' crossbars: one set cell in 2,048 at 64 x
    2,048); several times faster there than ``np.nonzero``, the same result."""
    flat = crossbar.reshape(-1) if crossbar.flags.c_contiguous else None
    if flat is None or crossbar.dtype != np.bool_ or crossbar.ndim != 2 or flat.size < 64:
        return _nonzero(crossbar)
    head = flat.shape[0] - flat.shape[0] % 8
    hit = np.flatnonzero(flat[:head].view(np.uint64))
    if hit.shape[0] > head // 32:  # not mostly empty: nothing to gain
        return _nonzero(crossbar)
    cells = (hit[:, None] * 8 + np.arange(8)).reshape(-1)
    cells = cells[flat[cells]]
    if head < flat.shape[0]:
        cells = np.concatenate([cells, head + np.flatnonzero(flat[head:])])
    rows, cols = np.divmod(cells, crossbar.shape[1])
    return rows, cols


class _Edges:
    """The set cells of a synapse node's crossbar, as index arrays (``np.nonzero``, row-major),
    or handed over by whoever built the node from another node's cells: the copies' inputs,
    whose dense crossbars are large and mostly empty, are never scanned. Only handed-over
    cells are kept (as int32), so memory stays with the copies' synapses."""

    def __init__(self) -> None:
        self._cells: dict[int, tuple[AxonSynapses, np.ndarray, np.ndarray]] = {}

    def cells(self, e: AxonSynapses) -> tuple[np.ndarray, np.ndarray]:
        """``(target rows, axons)`` of ``e.crossbar``'s set cells, sorted row-major."""
        got = self._cells.get(id(e))
        if got is None or got[0] is not e:
            return _set_cells(e.crossbar)
        return got[1], got[2]

    def know(self, e: AxonSynapses, rows: np.ndarray, axons: np.ndarray) -> None:
        small = np.int32 if max(e.crossbar.shape, default=0) < 2**31 else np.int64
        self._cells[id(e)] = (e, rows.astype(small), axons.astype(small))


def _pairs(
    rows: np.ndarray, axons: np.ndarray, cores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ``(axon, target core)`` pairs of the set cells ``(rows, axons)``, sorted by
    axon then core (the order in which a loop over axons, then over the sorted cores of each
    axon's targets, meets them), and per cell the index of its pair."""
    span = int(cores.max()) + 1 if cores.size else 1
    code = axons.astype(np.int64) * span + cores[rows]
    uniq, inverse = np.unique(code, return_inverse=True)
    return uniq // span, uniq % span, inverse.reshape(-1)


def _pair_keys(
    g: Graph, e: AxonSynapses, edges: _Edges
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per ``(axon, core)`` pair of ``e`` (see :func:`_pairs`): driver index, axon type, target
    core, delay and key code; then per set cell its target row and pair index."""
    cores = _cores(g.neurons(e.target))
    rows, axons = edges.cells(e)
    pa, pc, inverse = _pairs(rows, axons, cores)
    i = e.axon_source[pa].astype(np.int64)
    t = e.axon_type[pa].astype(np.int64)
    d = e.delay[i].astype(np.int64)
    return i, t, pc, d, _key_codes(pc, t, d), rows, inverse


def _gather_rows(
    rows: np.ndarray, axons: np.ndarray, n_rows: int, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The set cells of ``crossbar[idx]`` from those of ``crossbar`` (row-major in, row-major
    out), without reading the dense matrix."""
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    starts, counts = indptr[idx], indptr[idx + 1] - indptr[idx]
    total = int(counts.sum())
    new_rows = np.repeat(np.arange(idx.shape[0], dtype=rows.dtype), counts)
    begin = np.zeros(idx.shape[0], np.int64)
    np.cumsum(counts[:-1], out=begin[1:])
    pos = np.arange(total, dtype=np.int64) + np.repeat(starts - begin, counts)
    return new_rows, axons[pos]


@register
@dataclass(frozen=True)
class ReplicateFanout(Pass):
    """Give every neuron at most one destination by adding copies.

    Before: placed neurons, encoded synapses. After: every neuron drives the axons of at most
    one ``(type, core, delay)``; a neuron that needs ``k`` such destinations gets ``k - 1``
    copies in a population ``<name>_fan`` on its own core (same parameters, same inputs, so
    they spike at the very same ticks: the integer function is unchanged).

    Neuron ``i``'s destinations are numbered in the order they are first met going through
    its population's outgoing synapse nodes (graph order), their axons in order, and each
    axon's target cores in increasing order; the first stays with ``i``, the others go to
    copies numbered by ``i``, then by that order. The work is on the crossbars' set cells.
    """

    name = "replicate-fanout"
    requires = "placed"
    produces = "replicated"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        _require_placed(graph, self.name)
        g = graph.copy()
        edges = _Edges()
        for pop in graph.of_type(Neurons):
            out_edges = [e for e in g.of_type(AxonSynapses) if e.source == pop.name]
            need = _needs(g, out_edges, edges)
            if need is not None:
                _replicate(g, pop, need, edges)
        return g


class _Need:
    """The destinations of a population's neurons, distinct per neuron, each with its driver:
    ``codes`` (sorted) are ``neuron * n_keys + key index``, ``keys`` the sorted key codes;
    ``fan[k]`` says whether destination ``codes[k]`` goes to a copy and ``driver[k]`` is the
    index of its driver (the neuron itself, or the copy); ``origin[m]`` is copy ``m``'s
    neuron."""

    def __init__(self, neuron: np.ndarray, key: np.ndarray) -> None:
        self.keys, key_idx = np.unique(key, return_inverse=True)
        code = neuron * self.keys.shape[0] + key_idx.reshape(-1)
        self.codes, first = np.unique(code, return_index=True)
        owner = self.codes // self.keys.shape[0]
        order, rank = _first_rank(owner, first)
        self.max_rank = int(rank.max()) if rank.size else 0
        self.fan = rank > 0
        copy_no = np.cumsum(self.fan[order]) - 1  # copies numbered by neuron, then first use
        self.driver = owner.copy()
        self.driver[order[self.fan[order]]] = copy_no[self.fan[order]]
        self.origin = owner[order][self.fan[order]]

    def lookup(self, neuron: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Per ``(neuron, key code)``: its index in ``codes`` (each must be there: the copies'
        own recurrent inputs only reach keys their originals already need)."""
        key_idx = np.minimum(np.searchsorted(self.keys, key), self.keys.shape[0] - 1)
        code = neuron * self.keys.shape[0] + key_idx
        pos = np.minimum(np.searchsorted(self.codes, code), self.codes.shape[0] - 1)
        if not (np.array_equal(self.keys[key_idx], key) and np.array_equal(self.codes[pos], code)):
            raise PassError("replicate-fanout: internal error, a destination was not counted")
        return pos


def _needs(g: Graph, out_edges: list[AxonSynapses], edges: _Edges) -> _Need | None:
    """The destinations of the population whose outgoing synapse nodes are ``out_edges``, or
    None when no neuron has more than one."""
    neuron, key = [], []
    for e in out_edges:
        i, _, _, _, codes, _, _ = _pair_keys(g, e, edges)
        neuron.append(i)
        key.append(codes)
    if not neuron:
        return None
    need = _Need(np.concatenate(neuron), np.concatenate(key))
    return need if need.max_rank >= 1 else None


def _replicate(g: Graph, pop: Neurons, need: _Need, edges: _Edges) -> None:
    fan_name = g.fresh_name(f"{pop.name}_fan")
    idx = need.origin.astype(np.int64)
    n_fan = idx.shape[0]
    arrays: dict[str, Any] = {
        name: None if getattr(pop, name) is None else getattr(pop, name)[idx]
        for name in (*NEURON_ARRAYS, "type_weights", "core")
    }  # a population with no inputs has no type weights
    fan = Neurons(fan_name, count=n_fan, **arrays)
    fan.span = pop.span
    g.add(fan)
    # the copies listen to everything the originals listen to
    for e in [e for e in g.of_type(AxonSynapses) if e.target == pop.name]:
        copy = e.replace(crossbar=e.crossbar[idx], target=fan_name)
        assert isinstance(copy, AxonSynapses)
        copy.name = g.fresh_name(f"{e.name}_fan")
        g.add(copy)
        rows, axons = edges.cells(e)
        edges.know(copy, *_gather_rows(rows, axons, e.crossbar.shape[0], idx))
    # outgoing synapses (now including the copies' own recurrent inputs): one axon per
    # (driver, key), split by driving population
    out_edges = [e for e in g.of_type(AxonSynapses) if e.source == pop.name]
    for e in out_edges:
        i, t, _, d, codes, rows, inverse = _pair_keys(g, e, edges)
        at = need.lookup(i, codes)
        on_fan, driver = need.fan[at], need.driver[at]
        column = np.empty(at.shape[0], np.int64)  # the pair's axon in its driver's node
        column[~on_fan] = np.arange(int((~on_fan).sum()))
        column[on_fan] = np.arange(int(on_fan.sum()))
        n_tgt = e.crossbar.shape[0]
        del g.nodes[e.name]
        for name, mine in ((pop.name, ~on_fan), (fan_name, on_fan)):
            if not mine.any():
                continue
            if name == pop.name:
                delay = e.delay.copy()
            else:
                delay = np.full(n_fan, hw.DELAY_MIN)
                delay[driver[mine]] = d[mine]
            cell = mine[inverse]
            cell_rows, cell_axons = rows[cell], column[inverse[cell]]
            crossbar = np.zeros((n_tgt, int(mine.sum())), bool)
            crossbar[cell_rows, cell_axons] = True
            node = AxonSynapses(
                g.fresh_name(e.name if name == pop.name else f"{e.name}_fan"),
                source=name,
                target=e.target,
                axon_source=driver[mine].astype(np.int32),
                axon_type=t[mine].astype(np.uint8),
                crossbar=crossbar,
                delay=delay,
            )
            node.span = e.span
            g.add(node)


@register
@dataclass(frozen=True)
class LowerToCores(Pass):
    """Neuron-level IR -> core-level IR.

    Before: placed, replicated, encoded. After: :class:`Core` nodes (one per used core, in
    core-index order), :class:`CoreInput` for host bursts, :class:`CoreOutput` in place of
    every :class:`SpikeCount` (same name); host :class:`Input`/:class:`QLinear`/``Output``
    nodes are kept. No :class:`Neurons` or synapse nodes remain.
    """

    name = "lower-to-cores"
    requires = "placed"
    produces = "core"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        _require_placed(graph, self.name)
        return _Lowering(graph, ctx).run()


class _Lowering:
    """Slots are handed out in order: neurons per core in population order, then index order;
    axons per core in the order their keys ``(source, neuron or feature, type, delay)`` are
    first met going through the synapse nodes (graph order), their axons in order, and each
    axon's target cores in increasing order. The work is on the crossbars' set cells."""

    def __init__(self, graph: Graph, ctx: Context) -> None:
        self.g, self.ctx = graph, ctx
        pops = graph.of_type(Neurons)
        self.n_cores = max((int(_cores(p).max()) + 1 for p in pops if p.count), default=0)
        # per population: each neuron's core and slot on it
        self.core_of: dict[str, np.ndarray] = {}
        self.slot_of: dict[str, np.ndarray] = {}
        # (host node, delay) -> (feature, core, axon) rows of its CoreInput
        self.host_lines: dict[tuple[str, int], np.ndarray] = {}

    def run(self) -> Graph:
        if self.n_cores == 0:
            raise PassError("lower-to-cores: the graph has no neurons to put on cores")
        self._neuron_slots()
        fields = self._empty_cores()
        self._wire(fields)
        return self._emit(fields)

    def _neuron_slots(self) -> None:
        pops = self.g.of_type(Neurons)
        cores = [_cores(p).astype(np.int64) for p in pops]
        every = np.concatenate(cores) if cores else np.zeros(0, np.int64)
        _, slot = _first_rank(every, np.arange(every.shape[0]))
        full = np.flatnonzero(slot >= hw.NEURONS_PER_CORE)
        ends = np.cumsum([c.shape[0] for c in cores])
        if full.size:
            k = int(full[0])
            p = int(np.searchsorted(ends, k, side="right"))
            pop, i = pops[p], k - (int(ends[p - 1]) if p else 0)
            raise DoesNotFitError(
                f"{pop.span or '<graph>'}: core {int(every[k])} would hold more than "
                f"{hw.NEURONS_PER_CORE} neurons (while placing %{pop.name}[{i}]); "
                "re-run place so copies are counted"
            )
        for p, pop in enumerate(pops):
            lo = int(ends[p - 1]) if p else 0
            self.core_of[pop.name] = cores[p]
            self.slot_of[pop.name] = slot[lo : int(ends[p])]

    def _empty_cores(self) -> dict[str, np.ndarray]:
        c, n, a = self.n_cores, hw.NEURONS_PER_CORE, hw.AXONS_PER_CORE
        f = {
            "axon_types": np.zeros((c, a), np.uint8),
            "crossbar": np.zeros((c, a, n), bool),
            "weights": np.zeros((c, n, 4), np.int32),
            "dest_core": np.full((c, n), -1, np.int32),
            "dest_axon": np.zeros((c, n), np.int32),
            "delay": np.ones((c, n), np.int32),
            "alpha": np.ones((c, n), np.int32),
        }
        for name in NEURON_ARRAYS:
            f.setdefault(name, np.zeros((c, n), np.int32))
        f["reset_mode"][:] = hw.RESET_NONE  # unused neurons never fire: alpha 1 but no input
        f["alpha"][:] = hw.ALPHA_MAX
        for pop in self.g.of_type(Neurons):
            c_, s = self.core_of[pop.name], self.slot_of[pop.name]
            for name in NEURON_ARRAYS:
                f[name][c_, s] = getattr(pop, name)
            if pop.type_weights is not None:
                f["weights"][c_, s] = pop.type_weights
        return f

    def _wire(self, f: dict[str, np.ndarray]) -> None:
        g = self.g
        edges = g.of_type(AxonSynapses)
        sources = list(dict.fromkeys(e.source for e in edges))
        sid_of = {name: k for k, name in enumerate(sources)}
        host_sid = np.array([not isinstance(g[name], Neurons) for name in sources], bool)
        # one row per (synapse node, axon, target core) with set cells, in visiting order
        per_edge: list[tuple[np.ndarray, np.ndarray, int]] = []
        parts: list[list[np.ndarray]] = [[] for _ in range(6)]
        for k, e in enumerate(edges):
            i, t, c, d, _, rows, inverse = _pair_keys(g, e, _Edges())
            per_edge.append((rows.astype(np.int32), inverse.astype(np.int32), i.shape[0]))
            n = i.shape[0]
            for part, value in zip(
                parts, (np.full(n, k), np.full(n, sid_of[e.source]), i, t, d, c), strict=True
            ):
                part.append(value.astype(np.int64))
        edge, sid, neuron, typ, delay, core = (
            np.concatenate(part) if part else np.zeros(0, np.int64) for part in parts
        )
        span = int(neuron.max()) + 1 if neuron.size else 1
        source_code = sid * span + neuron  # the driving neuron or host feature
        key = (source_code * hw.AXON_TYPES + typ) * (hw.DELAY_MAX + 1) + delay
        keys, key_idx = np.unique(key, return_inverse=True)
        pair = core * max(keys.shape[0], 1) + key_idx.reshape(-1)  # (core, key)
        uniq, first, which = np.unique(pair, return_index=True, return_inverse=True)
        which = which.reshape(-1)
        _, axon_of_uniq = _first_rank(uniq // max(keys.shape[0], 1), first)
        axon = axon_of_uniq[which]
        host = host_sid[sid] if sid.size else np.zeros(0, bool)
        # the first row that needs a 257th axon on its core, or a second destination for its
        # neuron: the old per-axon loop stopped at whichever came first
        full = first[axon_of_uniq >= hw.AXONS_PER_CORE]
        at_full = int(full.min()) if full.size else None
        nrows = np.flatnonzero(~host)
        _, first_use, use = np.unique(source_code[nrows], return_index=True, return_inverse=True)
        use = use.reshape(-1)
        dest_first = nrows[first_use]  # per driving neuron: the row that set its destination
        clash = nrows[which[nrows] != which[dest_first[use]]]
        at_clash = int(clash.min()) if clash.size else None
        if at_full is not None and (at_clash is None or at_full <= at_clash):
            e = edges[int(edge[at_full])]
            raise DoesNotFitError(
                f"{e.span or '<graph>'}: core {int(core[at_full])} needs more than "
                f"{hw.AXONS_PER_CORE} axons (while wiring %{e.name}); "
                "reduce fan-in (split-fanin{max=N}) or re-run place"
            )
        if at_clash is not None:
            prev = dest_first[use[np.searchsorted(nrows, at_clash)]]
            e = edges[int(edge[at_clash])]
            raise PassError(
                f"lower-to-cores: neuron %{e.source}[{int(neuron[at_clash])}] needs two "
                f"destinations (core {int(core[prev])} axon {int(axon[prev])} and core "
                f"{int(core[at_clash])} axon {int(axon[at_clash])}); run replicate-fanout first"
            )
        f["axon_types"][core, axon] = typ
        offset = 0
        for e, (rows, inverse, n) in zip(edges, per_edge, strict=True):
            tc, ts = self.core_of[e.target], self.slot_of[e.target]
            f["crossbar"][tc[rows], axon[offset + inverse], ts[rows]] = True
            offset += n
        # host lines: (feature, core, axon) per (node, delay), rows in order of first use
        new = np.flatnonzero(host & (first[which] == np.arange(which.shape[0])))
        groups, group_of = np.unique(
            sid[new] * (hw.DELAY_MAX + 1) + delay[new], return_inverse=True
        )
        group_of = group_of.reshape(-1)
        for k, code in enumerate(groups.tolist()):
            mine = new[group_of == k]
            name, d = sources[code // (hw.DELAY_MAX + 1)], code % (hw.DELAY_MAX + 1)
            self.host_lines[(name, d)] = np.stack([neuron[mine], core[mine], axon[mine]], axis=1)
        # neuron destinations: the (core, axon, delay) each driving neuron's first row set
        for name in sources:
            if host_sid[sid_of[name]]:
                continue
            mine = dest_first[sid[dest_first] == sid_of[name]]
            c_, s = self.core_of[name][neuron[mine]], self.slot_of[name][neuron[mine]]
            f["dest_core"][c_, s] = core[mine]
            f["dest_axon"][c_, s] = axon[mine]
            f["delay"][c_, s] = delay[mine]

    def _emit(self, f: dict[str, np.ndarray]) -> Graph:
        g = self.g
        out = Graph(g.name, attrs=dict(g.attrs))
        positions = self._positions()
        for c in range(self.n_cores):
            core = Core(
                f"core{c}",
                x=int(positions[c][0]),
                y=int(positions[c][1]),
                seed=c + 1,
                **{k: v[c] for k, v in f.items()},
            )
            out.add(core)
        for node in g:
            if isinstance(node, (Neurons, AxonSynapses, CoreLayout)):
                continue
            if isinstance(node, SpikeCount):
                pop = g.neurons(node.source)
                lines = (
                    np.stack([self.core_of[pop.name], self.slot_of[pop.name]], axis=1)
                    if pop.count
                    else np.zeros(0)
                ).astype(np.int32)
                new = CoreOutput(node.name, lines=lines, offset=node.offset)
                new.span = node.span
                out.add(new)
                continue
            out.add(node)
            for (src, d), rows in sorted(self.host_lines.items(), key=lambda kv: kv[0]):
                if src == node.name:
                    ci = CoreInput(
                        out.fresh_name(f"{src}_to_cores"),
                        source=src,
                        lines=rows.astype(np.int32).reshape(-1, 3),
                        delay=d,
                    )
                    ci.span = node.span
                    out.add(ci)
        for q in out.of_type(QLinear):
            if q.source not in out:
                raise q.fail(f"reads %{q.source}, which did not survive lowering")
        return out

    def _positions(self) -> np.ndarray:
        """Mesh positions from the graph's :class:`CoreLayout` (written by place); a placed
        graph without one (written by hand) gets the row-major layout of chip 0."""
        layouts = self.g.of_type(CoreLayout)
        if layouts:
            pos = layouts[0].positions
            if pos.shape[0] < self.n_cores:
                raise layouts[0].fail(
                    f"lays out {pos.shape[0]} cores, but the neurons use {self.n_cores}"
                )
            return pos
        side = hw.CORES_PER_CHIP_SIDE
        idx = np.arange(self.n_cores)
        return np.stack([idx % side, idx // side], axis=1)
