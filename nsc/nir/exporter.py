"""nsc -> NIR: a neuron-level nsc graph as a NIR graph, and back without loss.

Mapping (docs/nir.md): :class:`Input` -> ``nir.Input``; :class:`Neurons` -> ``nir.IF`` with
``r = 1``, ``v_threshold = alpha - 1`` (the cores fire on ``V >= alpha``, NIR on
``v > v_threshold``) and ``v_reset = reset``; :class:`Synapses` -> ``nir.Linear`` (``nir.Affine``
carrying the target's leak as bias, on the first synapse node into each population), preceded
by a ``nir.Delay`` where the delay exceeds the pipeline lag (the same convention as the
importer: one tick per feed-forward hop, one step per recurrence); :class:`SpikeCount` +
:class:`Output` -> ``nir.Output``. Every NIR node carries nsc's exact fields as metadata
(``nsc_*``) and the graph carries the node order and attributes, so :func:`restore_nsc` (used by
the importer) rebuilds the identical nsc graph. Where the NIR reading of the IF node differs from
the core neuron (linear reset, leak reversal, a floor, an initial potential), the metadata is the
truth and the node's ``nsc_nir_exact`` flag says so.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nsc_runtime import hw

from ..errors import NscError
from ..ir import Graph, Input, Neurons, Output, SpikeCount, Synapses
from ..ir.nodes import NEURON_ARRAYS
from ..ops.membrane import Membrane
from .importer import back_edges

MARKER = "nsc_graph"
EXPORTABLE = (Input, Neurons, Synapses, SpikeCount, Membrane, Output)


def _pick_stage(obj: Any, stage: str | None) -> Graph:
    if isinstance(obj, Graph):
        if stage is not None:
            raise NscError("to_nir: stage= applies to a compiled network, not to a graph")
        return obj
    stages = getattr(obj, "stages", None)
    if not isinstance(stages, dict):
        raise NscError(f"to_nir takes an nsc.ir.Graph or an nsc.Compiled, got {type(obj).__name__}")
    if stage is not None:
        if stage not in stages:
            raise NscError(f"to_nir: no stage {stage!r}; stages: {', '.join(stages)}")
        return stages[stage]
    fits = [g for g in stages.values() if _exportable(g) is None]
    if not fits:
        whys = {_exportable(g) for g in stages.values()} - {None}
        host = sorted(w for w in whys if w and ("qlinear" in w or "quantize_input" in w))
        reason = f" ({host[0]}: a host layer, which NIR's spiking nodes cannot express)"
        raise NscError(
            "to_nir: no stage of this compiled network is only neurons and synapses (Input, "
            f"Neurons, Synapses, SpikeCount, Output){reason if host else ''}; NIR export "
            "covers spiking networks such as those imported from NIR, not models with a host "
            "readout or projection"
        )
    return fits[-1]


def _exportable(graph: Graph) -> str | None:
    """Why ``graph`` cannot be exported, or None."""
    for node in graph:
        if not isinstance(node, EXPORTABLE):
            return f"node %{node.name} is a {node.op}"
        if isinstance(node, Neurons) and (node.type_weights is not None or node.core is not None):
            return f"node %{node.name} is already encoded or placed"
        if isinstance(node, Output) and not isinstance(graph[node.source], SpikeCount | Membrane):
            return f"output %{node.name} does not read a spike count or a membrane readout"
        if isinstance(node, Membrane) and not isinstance(graph[node.source], SpikeCount | Input):
            return f"membrane %{node.name} does not read a spike count or an input"
    return None


def _stateless(node: Neurons) -> bool:
    """Memoryless neurons (the importer's Threshold): V is 0 after every tick, so the neuron
    spikes iff its input plus leak is positive, NIR's ``Threshold(0)`` after the Affine."""
    return bool(
        np.all(node.alpha == 1)
        and np.all(node.beta == 0)
        and np.all(node.kappa == 1)
        and np.all(node.reset_mode == hw.RESET_NORMAL)
        and not node.reset.any()
        and not node.v0.any()
        and not node.leak_reversal.any()
        and not node.tm.any()
        and not node.stoch_leak.any()
        and not node.stoch_synapse.any()
    )


def _free_running(graph: Graph, name: str) -> bool:
    """True for a population with no input but itself (the importer's clocks)."""
    return not any(
        e.target == name and e.source != name and e.weight.any() for e in graph.of_type(Synapses)
    )


def _schedule(graph: Graph) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """The importer's convention read back: the back edges (closing a cycle in a depth-first
    walk from the input-fed populations, in graph order) and each population's lag (longest
    path of the other neuron -> neuron hops)."""
    pops = [p.name for p in graph.of_type(Neurons)]
    edges = [
        s
        for s in graph.of_type(Synapses)
        if isinstance(graph[s.source], Neurons)
        and s.weight.any()
        and not _free_running(graph, s.source)
    ]
    succ: dict[str, list[str]] = {p: [] for p in pops}
    for p in pops:
        for s in edges:
            if s.target == p and p not in succ[s.source]:
                succ[s.source].append(p)
    fed = [
        p
        for p in pops
        if any(
            s.target == p and not isinstance(graph[s.source], Neurons)
            for s in graph.of_type(Synapses)
        )
    ]
    back = back_edges(succ, fed + pops)
    lag: dict[str, int] = {}

    def visit(p: str) -> int:
        if p not in lag:
            lag[p] = max(
                (visit(s.source) + 1 for s in edges if s.target == p and (s.source, p) not in back),
                default=0,
            )
        return lag[p]

    for p in pops:
        visit(p)
    return lag, back


def to_nir(graph_or_compiled: Any, *, stage: str | None = None, dt: float = 1e-4) -> Any:
    """The NIR graph of a neuron-level nsc graph (or of the last neuron-level stage of an
    :class:`nsc.Compiled`, or its ``stage``); ``dt`` is the time one tick stands for."""
    import nir

    graph = _pick_stage(graph_or_compiled, stage)
    why = _exportable(graph)
    if why is not None:
        raise NscError(
            f"to_nir exports neuron-level graphs (Input, Neurons, Synapses, SpikeCount, "
            f"Output): {why}"
        )
    lags, back = _schedule(graph)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    order: list[str] = []
    biased: set[str] = set()
    for node in graph:
        order.append(node.name)
        meta: dict[str, Any] = {"nsc_op": node.op}
        if isinstance(node, Input):
            meta["nsc_levels"] = np.int64(node.levels)
            nodes[node.name] = nir.Input(
                input_type={"input": np.array([node.features])}, metadata=meta
            )
        elif isinstance(node, Neurons):
            for key in NEURON_ARRAYS:
                meta[f"nsc_{key}"] = np.asarray(getattr(node, key))
            if _stateless(node):
                meta["nsc_nir_exact"] = np.int64(1)
                nodes[node.name] = nir.Threshold(threshold=np.zeros(node.count), metadata=meta)
                continue
            exact = (
                np.all(node.reset_mode == hw.RESET_NORMAL)
                and not node.leak_reversal.any()
                and not node.v0.any()
                and not node.tm.any()
                and not node.stoch_leak.any()
                and not node.stoch_synapse.any()
            )
            meta["nsc_nir_exact"] = np.int64(bool(exact))
            n = node.count
            nodes[node.name] = nir.IF(
                r=np.ones(n),
                v_threshold=node.alpha.astype(np.float64) - 1.0,
                v_reset=node.reset.astype(np.float64),
                metadata=meta,
            )
        elif isinstance(node, Synapses):
            _export_synapses(nir, graph, node, (lags, back), dt, nodes, edges, biased)
        elif isinstance(node, SpikeCount):
            continue  # carried by the Output or the membrane readout that reads it
        elif isinstance(node, Membrane):
            _export_membrane(nir, graph, node, lags, dt, meta, nodes, edges)
        elif isinstance(node, Output):
            src = graph[node.source]
            if isinstance(src, Membrane):
                meta.update(nsc_source=src.name)
                head, size = src.name, src.size(graph)
            else:
                assert isinstance(src, SpikeCount)
                meta.update(
                    nsc_count=src.name,
                    nsc_count_source=src.source,
                    nsc_offset=np.int64(src.offset),
                )
                head, size = src.source, graph[src.source].size(graph)
            nodes[node.name] = nir.Output(output_type={"output": np.array([size])}, metadata=meta)
            edges.append((head, node.name))
    inputs = graph.of_type(Input)
    for p in graph.of_type(Neurons):
        fed = any(s.target == p.name and s.source != p.name for s in graph.of_type(Synapses))
        if not fed and inputs:
            # NIR's type inference walks from the inputs: anchor a free-running population
            # (the importer's clocks) to the first input with a zero Linear
            anchor = f"{p.name}_anchor"
            nodes[anchor] = nir.Linear(
                weight=np.zeros((p.count, inputs[0].features)), metadata={"nsc_op": "anchor"}
            )
            edges += [(inputs[0].name, anchor), (anchor, p.name)]
        if p.leak.any() and p.name not in biased:
            nodes[p.name].metadata["nsc_leak_not_in_nir"] = np.int64(1)
    nir_exact = not any(
        int(n.metadata.get("nsc_nir_exact", 1)) == 0
        or "nsc_delay_not_in_nir" in n.metadata
        or "nsc_leak_not_in_nir" in n.metadata
        for n in nodes.values()
    )
    gmeta = {
        MARKER: "1",
        "nsc_nir_exact": np.int64(nir_exact),
        "nsc_name": graph.name,
        "nsc_order": ",".join(order),
        "nsc_attrs": {
            k: (np.int64(v) if isinstance(v, int) else str(v)) for k, v in graph.attrs.items()
        },
        "nsc_dt": np.float64(dt),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=gmeta)


def _export_synapses(
    nir: Any,
    graph: Graph,
    s: Synapses,
    schedule: tuple[dict[str, int], set[tuple[str, str]]],
    dt: float,
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    biased: set[str],
) -> None:
    lags, back = schedule
    window = graph.window
    src_is_pop = isinstance(graph[s.source], Neurons)
    if not src_is_pop:
        lag_delay = lags[s.target]
    elif (s.source, s.target) in back or s.source == s.target:
        lag_delay = window + lags[s.target] - lags[s.source]
    else:
        lag_delay = lags[s.target] - lags[s.source]
    extra = s.delay.astype(np.int64) - lag_delay
    meta: dict[str, Any] = {
        "nsc_op": s.op,
        "nsc_source": s.source,
        "nsc_target": s.target,
        "nsc_delay": np.asarray(s.delay),
    }
    weight = s.weight.astype(np.float64)
    target = graph.neurons(s.target)
    if s.target not in biased and target.leak.any():
        biased.add(s.target)
        meta["nsc_bias_is_leak"] = np.int64(1)
        nodes[s.name] = nir.Affine(
            weight=weight, bias=target.leak.astype(np.float64), metadata=meta
        )
    else:
        nodes[s.name] = nir.Linear(weight=weight, metadata=meta)
    head = s.source
    if src_is_pop and _free_running(graph, s.source):
        # a population with no input (the importer's clocks): its timing is its v0
        meta["nsc_delay_not_in_nir"] = np.int64(1)
        extra = np.zeros_like(extra)
    if extra.any() and ((extra < 0).any() or np.unique(extra).size != 1 or extra[0] % window):
        warnings.warn(
            f"to_nir: synapses %{s.name} have delays {sorted(set(s.delay.tolist()))} that are "
            f"not the pipeline lag {lag_delay} plus whole steps of {window} ticks; the NIR "
            "reading of this edge has no Delay (nsc's metadata keeps the exact delays)",
            UserWarning,
            stacklevel=3,
        )
        meta["nsc_delay_not_in_nir"] = np.int64(1)
        extra = np.zeros_like(extra)
    if extra.any():
        delay_name = f"{s.name}_delay"
        n_src = graph[s.source].size(graph)
        nodes[delay_name] = nir.Delay(
            delay=np.full(n_src, float(extra[0] // window) * dt), metadata={"nsc_op": "delay"}
        )
        edges.append((head, delay_name))
        head = delay_name
    edges.append((head, s.name))
    edges.append((s.name, s.target))


def _export_membrane(
    nir: Any,
    graph: Graph,
    m: Membrane,
    lags: dict[str, int],
    dt: float,
    meta: dict[str, Any],
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
) -> None:
    """A host membrane readout as NIR: ``[Delay ->] Affine -> I`` (decay 1) or ``LI`` with
    ``tau = dt/(1 - decay)`` and ``r = tau/dt`` (forward Euler: ``v = decay*v + I``), fed by
    the population its spike count reads (or the input)."""
    meta.update(
        nsc_source=m.source,
        nsc_weight=m.weight,
        nsc_bias=m.bias,
        nsc_decay=m.decay,
        nsc_delay=np.int64(m.delay),
    )
    src = graph[m.source]
    head = m.source
    if isinstance(src, SpikeCount):
        meta.update(
            nsc_count=src.name, nsc_count_source=src.source, nsc_offset=np.int64(src.offset)
        )
        head = src.source
        if src.offset != lags.get(src.source, 0) or graph.window != 1:
            meta["nsc_delay_not_in_nir"] = np.int64(1)
    if m.delay:
        delay_name = f"{m.name}_delay"
        n_src = graph[head].size(graph)
        nodes[delay_name] = nir.Delay(
            delay=np.full(n_src, m.delay * dt), metadata={"nsc_op": "delay"}
        )
        edges.append((head, delay_name))
        head = delay_name
    affine = f"{m.name}_in"
    nodes[affine] = nir.Affine(weight=m.weight, bias=m.bias, metadata={"nsc_op": "membrane_in"})
    edges += [(head, affine), (affine, m.name)]
    n = m.weight.shape[0]
    if np.all(m.decay == 1.0):
        nodes[m.name] = nir.I(r=np.ones(n), metadata=meta)
    else:
        with np.errstate(divide="ignore"):
            tau = dt / (1.0 - m.decay)  # decay 1: tau = r = inf, read as gain 1
        nodes[m.name] = nir.LI(tau=tau, r=tau / dt, v_leak=np.zeros(n), metadata=meta)


def write_nir(graph_or_compiled: Any, path: str | Path, **options: Any) -> None:
    """:func:`to_nir` written to ``path`` (HDF5, via ``nir.write``), atomically."""
    import nir

    from nsc_runtime.atomic import atomic_path

    nir_graph = to_nir(graph_or_compiled, **options)
    with atomic_path(path) as tmp:
        nir.write(str(tmp), nir_graph)


# ---------------------------------------------------------------------------------------------


def _int(v: Any) -> int:
    return int(np.asarray(v).reshape(-1)[0])


def _str(v: Any) -> str:
    v = np.asarray(v).reshape(-1)[0] if isinstance(v, np.ndarray) else v
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def restore_nsc(nir_graph: Any) -> Graph | None:
    """The nsc graph that :func:`to_nir` exported, rebuilt exactly from the metadata; None if
    ``nir_graph`` was not written by nsc."""
    meta = nir_graph.metadata if isinstance(nir_graph.metadata, dict) else {}
    if MARKER not in meta:
        return None
    attrs: dict[str, int | str] = {}
    for k, v in dict(meta.get("nsc_attrs", {})).items():
        arr = np.asarray(v)
        attrs[str(k)] = int(arr) if arr.dtype.kind in "iu" else _str(v)
    g = Graph(_str(meta["nsc_name"]), attrs=attrs)
    by_name = nir_graph.nodes
    counts = {}
    for node in by_name.values():
        m = node.metadata
        if _str(m.get("nsc_op", "")) in ("output", "membrane") and "nsc_count" in m:
            counts[_str(m["nsc_count"])] = m
    for name in _str(meta["nsc_order"]).split(","):
        if name in counts:
            m = counts[name]
            g.add(
                SpikeCount(name, source=_str(m["nsc_count_source"]), offset=_int(m["nsc_offset"]))
            )
            continue
        node = by_name.get(name)
        if node is None:
            raise NscError(f"NIR file written by nsc lacks node {name!r}")
        m = node.metadata
        op = _str(m.get("nsc_op", ""))
        if op == "input":
            shape = np.asarray(node.input_type["input"]).reshape(-1)
            g.add(Input(name, features=int(np.prod(shape)), levels=_int(m["nsc_levels"])))
        elif op == "neurons":
            fields = {key: np.asarray(m[f"nsc_{key}"]) for key in NEURON_ARRAYS}
            g.add(Neurons(name, count=int(fields["alpha"].shape[0]), **fields))
        elif op == "synapses":
            weight = np.asarray(node.weight)
            g.add(
                Synapses(
                    name,
                    source=_str(m["nsc_source"]),
                    target=_str(m["nsc_target"]),
                    weight=weight.astype(np.int64),
                    delay=np.asarray(m["nsc_delay"]),
                )
            )
        elif op == "membrane":
            g.add(
                Membrane(
                    name,
                    source=_str(m["nsc_source"]),
                    weight=np.asarray(m["nsc_weight"], np.float64),
                    bias=np.asarray(m["nsc_bias"], np.float64),
                    decay=np.asarray(m["nsc_decay"], np.float64),
                    delay=_int(m["nsc_delay"]),
                )
            )
        elif op == "output":
            g.add(Output(name, source=_str(m.get("nsc_count", m.get("nsc_source")))))
        else:
            raise NscError(f"NIR file written by nsc: node {name!r} has unknown nsc_op {op!r}")
    g.verify()
    return g
