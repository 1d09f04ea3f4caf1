"""The per-axon implementation of replicate-fanout and lower-to-cores that nsc/passes/lower.py
had before it was rewritten on index arrays (main at 9f29b24), kept verbatim as the reference the
rewrite must match exactly (tests/passes/test_pass_lower_exact.py). Not registered as a pass:
call :func:`replicate_fanout` and :func:`lower_to_cores`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from nsc.errors import DoesNotFitError, PassError
from nsc.ir import (
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
from nsc.ir.nodes import NEURON_ARRAYS
from nsc.passes.pipeline import Context
from nsc_runtime import hw

AxonKey = tuple[int, int, int]  # (axon type, target core, delay)


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


def _axon_keys(g: Graph, e: AxonSynapses) -> list[list[tuple[int, AxonKey]]]:
    """Per axon ``a`` of ``e``: the (driver index, key) pairs it needs, one per target core."""
    cores = _cores(g.neurons(e.target))
    out = []
    for a in range(e.axon_source.shape[0]):
        targets = np.flatnonzero(e.crossbar[:, a])
        on = sorted({int(c) for c in cores[targets]})
        i, t, d = int(e.axon_source[a]), int(e.axon_type[a]), int(e.delay[e.axon_source[a]])
        out.append([(i, (t, c, d)) for c in on])
    return out


def replicate_fanout(graph: Graph) -> Graph:
    """The old ReplicateFanout.apply."""
    _require_placed(graph, "replicate-fanout")
    g = graph.copy()
    for pop in graph.of_type(Neurons):
        out_edges = [e for e in g.of_type(AxonSynapses) if e.source == pop.name]
        need: dict[int, list[AxonKey]] = defaultdict(list)
        for e in out_edges:
            for pairs in _axon_keys(g, e):
                for i, key in pairs:
                    if key not in need[i]:
                        need[i].append(key)
        if all(len(keys) <= 1 for keys in need.values()):
            continue
        _replicate(g, pop, out_edges, need)
    return g


def _replicate(
    g: Graph, pop: Neurons, out_edges: list[AxonSynapses], need: dict[int, list[AxonKey]]
) -> None:
    origin = [i for i in sorted(need) for _ in need[i][1:]]
    driver: dict[tuple[int, AxonKey], tuple[str, int]] = {}
    fan_name = g.fresh_name(f"{pop.name}_fan")
    k = 0
    for i in sorted(need):
        for n, key in enumerate(need[i]):
            driver[(i, key)] = (pop.name, i) if n == 0 else (fan_name, k)
            k += 1 if n else 0
    idx = np.asarray(origin, np.int64)
    arrays: dict[str, Any] = {
        name: None if getattr(pop, name) is None else getattr(pop, name)[idx]
        for name in (*NEURON_ARRAYS, "type_weights", "core")
    }  # a population with no inputs has no type weights
    fan = Neurons(fan_name, count=len(origin), **arrays)
    fan.span = pop.span
    g.add(fan)
    # the copies listen to everything the originals listen to
    for e in [e for e in g.of_type(AxonSynapses) if e.target == pop.name]:
        copy = e.replace(crossbar=e.crossbar[idx], target=fan_name)
        copy.name = g.fresh_name(f"{e.name}_fan")
        g.add(copy)
    # outgoing synapses (now including the copies' own recurrent inputs): one axon per
    # (driver, key), split by driving population
    out_edges = [e for e in g.of_type(AxonSynapses) if e.source == pop.name]
    for e in out_edges:
        per_driver: dict[str, tuple[list[int], list[int], list[np.ndarray]]] = {
            pop.name: ([], [], []),
            fan_name: ([], [], []),
        }
        delays = {pop.name: e.delay.copy(), fan_name: np.full(len(origin), hw.DELAY_MIN)}
        cores = _cores(g.neurons(e.target))
        for a, pairs in enumerate(_axon_keys(g, e)):
            for i, key in pairs:
                name, j = driver[(i, key)]
                srcs, types, cols = per_driver[name]
                srcs.append(j)
                types.append(key[0])
                delays[name][j] = key[2]
                cols.append(e.crossbar[:, a] & (cores == key[1]))
        del g.nodes[e.name]
        for name, (srcs, types, cols) in per_driver.items():
            if not srcs:
                continue
            n_tgt = e.crossbar.shape[0]
            node = AxonSynapses(
                g.fresh_name(e.name if name == pop.name else f"{e.name}_fan"),
                source=name,
                target=e.target,
                axon_source=np.asarray(srcs, np.int32),
                axon_type=np.asarray(types, np.uint8),
                crossbar=np.stack(cols, axis=1) if cols else np.zeros((n_tgt, 0), bool),
                delay=delays[name],
            )
            node.span = e.span
            g.add(node)


def lower_to_cores(graph: Graph, ctx: Context | None = None) -> Graph:
    """The old LowerToCores.apply."""
    _require_placed(graph, "lower-to-cores")
    return _Lowering(graph, ctx if ctx is not None else Context()).run()


class _Lowering:
    def __init__(self, graph: Graph, ctx: Context) -> None:
        self.g, self.ctx = graph, ctx
        pops = graph.of_type(Neurons)
        self.n_cores = max((int(_cores(p).max()) + 1 for p in pops if p.count), default=0)
        self.slot: dict[tuple[str, int], tuple[int, int]] = {}  # neuron -> (core, slot)
        self.core_neurons: list[list[tuple[str, int]]] = [[] for _ in range(self.n_cores)]
        self.axon_slot: list[dict[tuple, int]] = [{} for _ in range(self.n_cores)]
        # (host node, delay) -> (feature, core, axon) rows of its CoreInput
        self.host_lines: dict[tuple[str, int], list[tuple[int, int, int]]] = defaultdict(list)

    def run(self) -> Graph:
        g = self.g
        if self.n_cores == 0:
            raise PassError("lower-to-cores: the graph has no neurons to put on cores")
        for pop in g.of_type(Neurons):
            for i in range(pop.count):
                c = int(_cores(pop)[i])
                members = self.core_neurons[c]
                if len(members) >= hw.NEURONS_PER_CORE:
                    raise DoesNotFitError(
                        f"{pop.span or '<graph>'}: core {c} would hold more than "
                        f"{hw.NEURONS_PER_CORE} neurons (while placing %{pop.name}[{i}]); "
                        "re-run place so copies are counted"
                    )
                self.slot[(pop.name, i)] = (c, len(members))
                members.append((pop.name, i))
        fields = self._empty_cores()
        self._wire(fields)
        return self._emit(fields)

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
            for i in range(pop.count):
                c_, s = self.slot[(pop.name, i)]
                for name in NEURON_ARRAYS:
                    f[name][c_, s] = getattr(pop, name)[i]
                if pop.type_weights is not None:
                    f["weights"][c_, s] = pop.type_weights[i]
        return f

    def _axon(self, core: int, key: tuple, node: object) -> int:
        slots = self.axon_slot[core]
        if key in slots:
            return slots[key]
        if len(slots) >= hw.AXONS_PER_CORE:
            raise DoesNotFitError(
                f"{getattr(node, 'span', None) or '<graph>'}: core {core} needs more than "
                f"{hw.AXONS_PER_CORE} axons (while wiring %{getattr(node, 'name', '?')}); "
                "reduce fan-in (split-fanin{max=N}) or re-run place"
            )
        slots[key] = len(slots)
        return slots[key]

    def _wire(self, f: dict[str, np.ndarray]) -> None:
        g = self.g
        driven: dict[tuple[str, int], tuple[int, int, int]] = {}
        for e in g.of_type(AxonSynapses):
            host = not isinstance(g[e.source], Neurons)
            cores = _cores(g.neurons(e.target))
            for a in range(e.axon_source.shape[0]):
                targets = np.flatnonzero(e.crossbar[:, a])
                if targets.size == 0:
                    continue
                i, t = int(e.axon_source[a]), int(e.axon_type[a])
                d = int(e.delay[i])
                for c in sorted({int(x) for x in cores[targets]}):
                    key = ("host" if host else "n", e.source, i, t, d)
                    slot = self._axon(c, key, e)
                    f["axon_types"][c, slot] = t
                    for j in targets[cores[targets] == c]:
                        f["crossbar"][c, slot, self.slot[(e.target, int(j))][1]] = True
                    if host:
                        if (c, slot) not in {(x[1], x[2]) for x in self.host_lines[(e.source, d)]}:
                            self.host_lines[(e.source, d)].append((i, c, slot))
                        continue
                    dest = (c, slot, d)
                    prev = driven.setdefault((e.source, i), dest)
                    if prev != dest:
                        raise PassError(
                            f"lower-to-cores: neuron %{e.source}[{i}] needs two destinations "
                            f"(core {prev[0]} axon {prev[1]} and core {c} axon {slot}); "
                            "run replicate-fanout first"
                        )
        for (name, i), (c, slot, d) in driven.items():
            sc, ss = self.slot[(name, i)]
            f["dest_core"][sc, ss], f["dest_axon"][sc, ss], f["delay"][sc, ss] = c, slot, d

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
                lines = [self.slot[(pop.name, i)] for i in range(pop.count)]
                new = CoreOutput(node.name, lines=np.asarray(lines, np.int32), offset=node.offset)
                new.span = node.span
                out.add(new)
                continue
            out.add(node)
            for (src, d), rows in sorted(self.host_lines.items()):
                if src == node.name:
                    ci = CoreInput(
                        out.fresh_name(f"{src}_to_cores"),
                        source=src,
                        lines=np.asarray(rows, np.int32).reshape(-1, 3),
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
