"""The reference interpreter: a plain numpy executor of every IR level, the numeric oracle.

- network-level nodes run in float64, step by step;
- :class:`QLinear` runs in exact integer arithmetic;
- spiking nodes (:class:`Neurons`, :class:`Synapses`, :class:`AxonSynapses`, :class:`Core`,
  :class:`CoreInput`) are simulated together, tick by tick, with the per-tick equations of
  ``shared/reference/truenorth.md`` (deterministic modes), written independently of the
  Cython runtime so that agreement between the two means something.

Inputs are arrays of shape ``(batch, steps, features)``; every output is
``(batch, steps, size)``. Spike timing: a host activity ``a`` at step ``t`` is a burst of
spikes at ticks ``t*W + delay + k`` for ``k < a``; :class:`SpikeCount`/:class:`CoreOutput`
count spikes in ``[t*W + offset, (t+1)*W + offset)``. Step ``t``'s spikes are simulated for
``steps*W + max(offset)`` ticks in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nsc_runtime import hw
from nsc_runtime.spikecode import bursts, run_ticks, window_counts

from ..errors import InterpretError
from .graph import Graph
from .nodes import (
    NEURON_ARRAYS,
    AxonSynapses,
    Core,
    CoreInput,
    CoreOutput,
    Input,
    Neurons,
    Node,
    Output,
    SpikeCount,
    Synapses,
)


@dataclass
class Trace:
    """What one interpreter run computed: every node's value and the spiking details."""

    values: dict[str, np.ndarray]
    spikes: np.ndarray | None = None  # (batch, ticks, neurons) of the flat spiking network
    neuron_index: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (lo, hi)
    synaptic_events: np.ndarray | None = None  # (batch,) integrations counted per run


class Interpreter:
    """Runs a graph on inputs, in the style of ``torch.fx.Interpreter``.

    :meth:`run` visits the nodes in dependency order: inputs are bound by :meth:`bind_inputs`,
    every step-level node by :meth:`run_node` (default: the op's own ``evaluate``), and the
    *spiking region* (every op with ``spiking = True``, recurrent among itself) as one unit by
    :meth:`run_spiking` once all host values it reads are known. Subclasses override a hook:
    the compiler's host runner hands the spiking region to the Cython runtime.
    """

    def __init__(self, graph: Graph, *, keep_spikes: bool = False) -> None:
        self.graph = graph
        self.keep_spikes = keep_spikes

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> Trace:
        """Every node's value for ``inputs`` (``(batch, steps, features)`` or a dict by name)."""
        graph = self.graph
        feeds = self.bind_inputs(inputs)
        batch, steps = next(iter(feeds.values())).shape[:2]
        trace = Trace(dict(feeds))
        values = trace.values
        region = [n for n in graph if n.spiking]
        reads = {
            ref for n in region for ref in n.operands() if not graph[ref].spiking
        }  # host values the spiking region reads
        pending = [n for n in graph if not n.spiking and n.name not in feeds]
        region_done = not region
        while pending or not region_done:
            progressed = False
            if not region_done and all(r in values for r in reads):
                values.update(self.run_spiking(values, batch, steps, trace))
                region_done = progressed = True
            for node in list(pending):
                if all(ref in values for ref in node.operands()):
                    values[node.name] = self.run_node(node, [values[r] for r in node.operands()])
                    pending.remove(node)
                    progressed = True
            if not progressed:
                names = ", ".join(f"%{n.name}" for n in pending) or "the spiking region"
                raise InterpretError(f"cannot evaluate {names}: a cycle outside spiking nodes")
        return trace

    # -- hooks ----------------------------------------------------------------------------
    def bind_inputs(self, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check and convert the input arrays; ``{input name: (batch, steps, features)}``."""
        return bind_inputs(self.graph, inputs)

    def run_node(self, node: Node, args: list[np.ndarray]) -> np.ndarray:
        """The value of a step-level node from its operands' values."""
        return node.evaluate(args)

    def run_spiking(
        self, values: dict[str, np.ndarray], batch: int, steps: int, trace: Trace
    ) -> dict[str, np.ndarray]:
        """Simulate the spiking region tick by tick (numpy, deterministic neurons); return the
        value of every spiking node read by the host (spike counts, core inputs)."""
        return _simulate(self.graph, values, batch, steps, trace, self.keep_spikes)


def interpret(
    graph: Graph, inputs: np.ndarray | dict[str, np.ndarray], *, keep_spikes: bool = False
) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``inputs``; return ``{output name: (batch, steps, size) array}``."""
    trace = run_trace(graph, inputs, keep_spikes=keep_spikes)
    return {o.name: trace.values[o.name] for o in graph.of_type(Output)}


def run_trace(
    graph: Graph, inputs: np.ndarray | dict[str, np.ndarray], *, keep_spikes: bool = False
) -> Trace:
    """Run ``graph`` and return every node's value (and the spike raster if asked)."""
    return Interpreter(graph, keep_spikes=keep_spikes).run(inputs)


def bind_inputs(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check ``inputs`` against the graph's :class:`Input` nodes; return them by name
    (integer activities as int64, float inputs as float64)."""
    nodes = graph.of_type(Input)
    if not nodes:
        raise InterpretError("the graph has no input node")
    if not isinstance(inputs, dict):
        if len(nodes) != 1:
            raise InterpretError(f"the graph has {len(nodes)} inputs: pass a dict by name")
        inputs = {nodes[0].name: inputs}
    feeds = {}
    for node in nodes:
        if node.name not in inputs:
            raise InterpretError(f"no value given for input %{node.name}")
        x = np.asarray(inputs[node.name])
        if x.ndim != 3 or x.shape[2] != node.features:
            raise InterpretError(
                f"input %{node.name} expects shape (batch, steps, {node.features}), got {x.shape}"
            )
        if node.levels:
            if not np.all(np.equal(np.mod(x, 1), 0)):
                raise InterpretError(f"input %{node.name} takes integer activities")
            x = x.astype(np.int64)
            if x.size and (x.min() < 0 or x.max() >= node.levels):
                raise InterpretError(
                    f"input %{node.name} activities must lie in [0, {node.levels}), "
                    f"got [{x.min()}, {x.max()}]"
                )
        else:
            x = x.astype(np.float64)
        feeds[node.name] = x
    shapes = {v.shape[:2] for v in feeds.values()}
    if len(shapes) != 1:
        raise InterpretError(f"inputs disagree on (batch, steps): {sorted(shapes)}")
    return feeds


# ---------------------------------------------------------------------------------------------
# spiking nodes, simulated jointly on one flat network


@dataclass
class _Flat:
    """The spiking part of a graph as one population with COO edge lists."""

    params: dict[str, list[np.ndarray]] = field(default_factory=dict)
    index: dict[str, tuple[int, int]] = field(default_factory=dict)
    n: int = 0
    # neuron -> neuron edges
    src: list[np.ndarray] = field(default_factory=list)
    tgt: list[np.ndarray] = field(default_factory=list)
    w: list[np.ndarray] = field(default_factory=list)
    d: list[np.ndarray] = field(default_factory=list)
    # host feature -> neuron edges: (host node, feature, target, weight, delay)
    host: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=list
    )

    def add_population(self, name: str, arrays: dict[str, np.ndarray], count: int) -> int:
        lo = self.n
        self.index[name] = (lo, lo + count)
        for key, value in arrays.items():
            self.params.setdefault(key, []).append(np.asarray(value, np.int64))
        self.n += count
        return lo

    def add_edges(self, src: Any, tgt: Any, w: Any, d: Any) -> None:
        self.src.append(np.asarray(src, np.int64))
        self.tgt.append(np.asarray(tgt, np.int64))
        self.w.append(np.asarray(w, np.int64))
        self.d.append(np.asarray(d, np.int64))


PARAM_NAMES = tuple(NEURON_ARRAYS)


def _flatten(graph: Graph) -> _Flat:
    flat = _Flat()
    for pop in graph.of_type(Neurons):
        flat.add_population(pop.name, {k: getattr(pop, k) for k in PARAM_NAMES}, pop.count)
    for node in graph:
        if isinstance(node, (Synapses, AxonSynapses)):
            weight = node.weight if isinstance(node, Synapses) else node.weight(graph)
            tlo, _ = flat.index[node.target]
            j, i = np.nonzero(weight)
            w, d = weight[j, i], node.delay[i]
            if isinstance(graph[node.source], Neurons):
                slo, _ = flat.index[node.source]
                flat.add_edges(slo + i, tlo + j, w, d)
            else:
                flat.host.append((node.source, i, tlo + j, w, d))
    cores = graph.of_type(Core)
    for core in cores:
        arrays = {k: getattr(core, k) for k in PARAM_NAMES}
        flat.add_population(core.name, arrays, hw.NEURONS_PER_CORE)
    for core in cores:
        for src_neuron in np.flatnonzero(core.dest_core >= 0):
            dc, da = int(core.dest_core[src_neuron]), int(core.dest_axon[src_neuron])
            target = cores[dc]
            cols = np.flatnonzero(target.crossbar[da])
            w = target.weights[cols, target.axon_types[da]]
            dlo, _ = flat.index[target.name]
            flat.add_edges(
                np.full(cols.size, flat.index[core.name][0] + src_neuron),
                dlo + cols,
                w,
                np.full(cols.size, int(core.delay[src_neuron])),
            )
    for ci in graph.of_type(CoreInput):
        for feature, c, axon in ci.lines:
            target = cores[int(c)]
            cols = np.flatnonzero(target.crossbar[int(axon)])
            w = target.weights[cols, target.axon_types[int(axon)]]
            dlo, _ = flat.index[target.name]
            flat.host.append(
                (
                    ci.source,
                    np.full(cols.size, int(feature)),
                    dlo + cols,
                    w,
                    np.full(cols.size, ci.delay),
                )
            )
    return flat


def _counters(graph: Graph, flat: _Flat) -> list[tuple[str, np.ndarray, int]]:
    """(node name, flat neuron ids, offset) for every spike-counting node."""
    out = []
    for node in graph:
        if isinstance(node, SpikeCount):
            lo, hi = flat.index[node.source]
            out.append((node.name, np.arange(lo, hi), node.offset))
        elif isinstance(node, CoreOutput):
            cores = graph.of_type(Core)
            ids = [flat.index[cores[int(c)].name][0] + int(j) for c, j in node.lines]
            out.append((node.name, np.asarray(ids, np.int64), node.offset))
    return out


def _simulate(
    graph: Graph,
    values: dict[str, np.ndarray],
    batch: int,
    steps: int,
    trace: Trace,
    keep_spikes: bool,
) -> dict[str, np.ndarray]:
    flat = _flatten(graph)
    window = graph.window
    counters = _counters(graph, flat)
    ticks = run_ticks(steps, window, (off for _, _, off in counters))
    p = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in flat.params.items()}
    if flat.n and (p["stoch_leak"].any() or p["stoch_synapse"].any() or p["tm"].any()):
        raise InterpretError(
            "the reference interpreter runs deterministic neurons only "
            "(stochastic synapses/leak and threshold masks run in the runtime)"
        )
    n = flat.n
    ring = hw.RING_SLOTS
    buf = np.zeros((ring, batch, n), np.int64)
    events = np.zeros(batch, np.int64)
    schedule = _host_schedule(flat, values, window, ticks, batch, n)

    src = np.concatenate(flat.src) if flat.src else np.zeros(0, np.int64)
    tgt = np.concatenate(flat.tgt) if flat.tgt else np.zeros(0, np.int64)
    w = np.concatenate(flat.w) if flat.w else np.zeros(0, np.int64)
    d = np.concatenate(flat.d) if flat.d else np.zeros(0, np.int64)
    by_delay = {int(dd): np.flatnonzero(d == dd) for dd in np.unique(d)}

    v = np.broadcast_to(p.get("v0", np.zeros(n, np.int64)), (batch, n)).copy()
    alpha, leak, beta = p["alpha"], p["leak"], p["beta"]
    kappa, mode, reset, eps = p["kappa"], p["reset_mode"], p["reset"], p["leak_reversal"]
    spikes_out = np.zeros((batch, ticks, n), bool) if keep_spikes else None
    recorded = {name: np.zeros((batch, ticks, ids.size), np.uint8) for name, ids, _ in counters}

    for tick in range(ticks):
        slot = tick % ring
        incoming = buf[slot]
        host = schedule.get(tick)
        if host is not None:
            incoming = incoming + host[0]
            events += host[1]
        v = v + incoming
        buf[slot] = 0
        omega = (1 - eps) + eps * np.sign(v)
        v = v + omega * leak
        fire = v >= alpha
        v = np.where(fire & (mode == 0), reset, v)
        v = np.where(fire & (mode == 1), v - alpha, v)
        neg_thr = -(beta * kappa + beta * (1 - kappa))
        low = ~fire & (v < neg_thr)
        v = np.where(low & (kappa == 1), -beta, v)
        v = np.where(low & (kappa == 0) & (mode == 0), -reset, v)
        v = np.where(low & (kappa == 0) & (mode == 1), v + beta, v)
        v = np.clip(v, hw.V_MIN, hw.V_MAX)
        if spikes_out is not None:
            spikes_out[:, tick] = fire
        for name, ids, _ in counters:
            recorded[name][:, tick] = fire[:, ids]
        if not fire.any() or src.size == 0:
            continue
        for dd, idx in by_delay.items():
            contrib = fire[:, src[idx]] * w[idx]  # (batch, edges)
            events += np.count_nonzero(fire[:, src[idx]], axis=1)
            np.add.at(buf[(tick + dd) % ring].T, tgt[idx], contrib.T)
    trace.spikes = spikes_out
    trace.neuron_index = flat.index
    trace.synaptic_events = events
    return {name: window_counts(recorded[name], window, off, steps) for name, _, off in counters}


def _host_schedule(
    flat: _Flat, values: dict[str, np.ndarray], window: int, ticks: int, batch: int, n: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Tick -> (input currents (batch, n), synaptic events (batch,)) from host bursts."""
    schedule: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    trains = {name: bursts(values[name], window, 0, ticks) for name, *_ in flat.host}
    for name, feat, tgt, w, d in flat.host:
        for dd in np.unique(d):
            sel = d == dd
            on_all = trains[name][:, : ticks - int(dd), feat[sel]]  # (batch, ticks - dd, edges)
            for t in np.flatnonzero(on_all.any(axis=(0, 2))):
                on = on_all[:, t]
                tick = int(t) + int(dd)
                cur, ev = schedule.get(
                    tick, (np.zeros((batch, n), np.int64), np.zeros(batch, np.int64))
                )
                np.add.at(cur.T, tgt[sel], (on * w[sel]).T)
                schedule[tick] = (cur, ev + np.count_nonzero(on, axis=1))
    return schedule
