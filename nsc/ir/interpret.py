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

from ..errors import NscError
from .graph import Graph
from .nodes import (
    NEURON_ARRAYS,
    AxonSynapses,
    Core,
    CoreInput,
    CoreOutput,
    ElmanRNN,
    Input,
    Linear,
    Neurons,
    Node,
    Output,
    QLinear,
    ReLU,
    SpikeCount,
    Synapses,
)

SPIKING = (Neurons, Synapses, AxonSynapses, SpikeCount, Core, CoreInput, CoreOutput)


class InterpretError(NscError):
    """The interpreter cannot run this graph on these inputs."""


@dataclass
class Trace:
    """What one interpreter run computed: every node's value and the spiking details."""

    values: dict[str, np.ndarray]
    spikes: np.ndarray | None = None  # (batch, ticks, neurons) of the flat spiking network
    neuron_index: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (lo, hi)
    synaptic_events: np.ndarray | None = None  # (batch,) integrations counted per run


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
    feeds = _bind_inputs(graph, inputs)
    batch, steps = next(iter(feeds.values())).shape[:2]
    values: dict[str, np.ndarray] = {}
    trace = Trace(values)
    pending = list(graph)
    spiking_done = False
    while pending:
        progressed = False
        for node in list(pending):
            if isinstance(node, SPIKING):
                if spiking_done:
                    pending.remove(node)
                    progressed = True
                    continue
                if not _spiking_sources_ready(graph, values):
                    continue
                _simulate(graph, values, batch, steps, trace, keep_spikes)
                spiking_done = True
                pending.remove(node)
                progressed = True
                continue
            if not all(ref in values for ref in node.operands()):
                continue
            values[node.name] = _evaluate(node, graph, values, feeds)
            pending.remove(node)
            progressed = True
        if not progressed:
            names = ", ".join(f"%{n.name}" for n in pending)
            raise InterpretError(f"cannot evaluate {names}: a cycle outside spiking nodes")
    return trace


# ---------------------------------------------------------------------------------------------
# step-level nodes


def _bind_inputs(graph: Graph, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, Any]:
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


def _evaluate(node: Node, graph: Graph, values: dict[str, np.ndarray], feeds: dict) -> Any:
    if isinstance(node, Input):
        return feeds[node.name]
    if isinstance(node, Linear):
        y = values[node.source] @ node.weight.T
        return y + node.bias if node.bias is not None else y
    if isinstance(node, ReLU):
        return np.maximum(values[node.source], 0)
    if isinstance(node, ElmanRNN):
        return _elman(node, values[node.source])
    if isinstance(node, QLinear):
        x = values[node.source]
        if not np.all(np.equal(np.mod(x, 1), 0)):
            raise InterpretError(f"%{node.name} takes integer inputs")
        z = x.astype(np.int64) @ node.weight.T.astype(np.int64) + node.bias.astype(np.int64)
        if node.levels:
            return np.clip(np.floor_divide(z, node.divisor), 0, node.levels - 1)
        return z
    if isinstance(node, Output):
        return values[node.source]
    raise InterpretError(f"the interpreter cannot run %{node.name} ({node.op})")


def _elman(node: ElmanRNN, x: np.ndarray) -> np.ndarray:
    batch, steps, _ = x.shape
    hidden = node.w_hh.shape[0]
    h = np.zeros((batch, hidden))
    out = np.zeros((batch, steps, hidden))
    act = np.tanh if node.nonlinearity == "tanh" else (lambda v: np.maximum(v, 0.0))
    bias = node.bias if node.bias is not None else 0.0
    for t in range(steps):
        h = act(x[:, t] @ node.w_ih.T + h @ node.w_hh.T + bias)
        out[:, t] = h
    return out


# ---------------------------------------------------------------------------------------------
# spiking nodes, simulated jointly on one flat network


def _host_sources(graph: Graph) -> list[str]:
    names = []
    for node in graph:
        if isinstance(node, (Synapses, AxonSynapses, CoreInput)):
            src = graph[node.source]
            if not isinstance(src, Neurons) and src.name not in names:
                names.append(src.name)
    return names


def _spiking_sources_ready(graph: Graph, values: dict[str, np.ndarray]) -> bool:
    return all(name in values for name in _host_sources(graph))


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
) -> None:
    flat = _flatten(graph)
    window = graph.window
    counters = _counters(graph, flat)
    ticks = steps * window + max((off for _, _, off in counters), default=0)
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
    schedule = _host_schedule(flat, values, steps, window, batch, n)

    src = np.concatenate(flat.src) if flat.src else np.zeros(0, np.int64)
    tgt = np.concatenate(flat.tgt) if flat.tgt else np.zeros(0, np.int64)
    w = np.concatenate(flat.w) if flat.w else np.zeros(0, np.int64)
    d = np.concatenate(flat.d) if flat.d else np.zeros(0, np.int64)
    by_delay = {int(dd): np.flatnonzero(d == dd) for dd in np.unique(d)}

    v = np.broadcast_to(p.get("v0", np.zeros(n, np.int64)), (batch, n)).copy()
    alpha, leak, beta = p["alpha"], p["leak"], p["beta"]
    kappa, mode, reset, eps = p["kappa"], p["reset_mode"], p["reset"], p["leak_reversal"]
    spikes_out = np.zeros((batch, ticks, n), bool) if keep_spikes else None
    counts = {name: np.zeros((batch, steps, ids.size), np.int64) for name, ids, _ in counters}

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
        for name, ids, off in counters:
            step = (tick - off) // window
            if tick >= off and step < steps:
                counts[name][:, step] += fire[:, ids]
        if not fire.any() or src.size == 0:
            continue
        for dd, idx in by_delay.items():
            contrib = fire[:, src[idx]] * w[idx]  # (batch, edges)
            events += np.count_nonzero(fire[:, src[idx]], axis=1)
            np.add.at(buf[(tick + dd) % ring].T, tgt[idx], contrib.T)
    for name, _, _ in counters:
        values[name] = counts[name]
    trace.spikes = spikes_out
    trace.neuron_index = flat.index
    trace.synaptic_events = events


def _host_schedule(
    flat: _Flat, values: dict[str, np.ndarray], steps: int, window: int, batch: int, n: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Tick -> (input currents (batch, n), synaptic events (batch,)) from host bursts."""
    schedule: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for name, feat, tgt, w, d in flat.host:
        activity = values[name].astype(np.int64)[:, :, feat]  # (batch, steps, edges)
        for k in range(int(activity.max(initial=0))):
            on = activity > k
            for t in range(steps):
                mask = on[:, t]  # (batch, edges)
                if not mask.any():
                    continue
                for dd in np.unique(d):
                    sel = d == dd
                    tick = t * window + int(dd) + k
                    cur, ev = schedule.get(tick, (np.zeros((batch, n), np.int64), None))
                    ev = ev if ev is not None else np.zeros(batch, np.int64)
                    contrib = mask[:, sel] * w[sel]
                    np.add.at(cur.T, tgt[sel], contrib.T)
                    ev = ev + np.count_nonzero(mask[:, sel], axis=1)
                    schedule[tick] = (cur, ev)
    return schedule
