"""NIR -> nsc: a NIR graph becomes a neuron-level nsc graph, one NIR time step per tick (per
window of ticks when a cycle runs through several populations).

Construction (docs/nir.md states it per node type):

1. Nested NIR subgraphs are inlined (their Input/Output nodes become identities).
2. Stateless nodes (Affine, Linear, Scale, Flatten, Delay) are folded into the edges between
   *sources* (the graph's Input nodes, sending 0/1 spikes per step) and *populations* (IF, LIF,
   CubaLIF, I or LI followed by a Threshold, and a Threshold alone: memoryless neurons whose
   potential returns to 0 every tick): each population's input current is
   ``sum_k M_k s_k(t - d_k) + b`` over the sources ``k`` (matrix ``M_k``, NIR delay ``d_k``
   steps, constant ``b`` from the biases). An I or LI without a Threshold is a *membrane
   readout*: a host :class:`~nsc.ops.membrane.Membrane` reading the spike count per step of the
   one source that drives it.
3. Every neuron gets its own integer scale ``k_j`` (spikes carry no unit, so each neuron's
   potential may be scaled on its own): weights, bias (the leak), threshold and reset become
   integers in units of ``1/k_j``. When an exact scale exists (every value a rational multiple
   of one unit, weights within 16 levels on 4 axon types), the neuron is *exact*; otherwise the
   weights are rounded on 16 levels and the neuron is *approximate* (the relative weight error
   is reported). NIR's strict ``v > v_thr`` is ``V >= k*v_thr + 1`` on integers.
4. Timing: a population fed by the host only has lag 0 (it fires at tick ``t`` for step ``t``);
   every feed-forward hop between populations adds one tick of lag (the cores have no
   zero-delay synapse). A synapse ``S -> P`` gets delay ``lag(P) - lag(S) + d`` (host:
   ``lag(P) + d``); an edge closing a cycle (NIR's recurrence convention: it carries the
   previous step) gets ``W + lag(P) - lag(S) + d``, where ``W`` (the window, ticks per step)
   is 1 unless a cycle runs through several populations; NIR delays ``d`` count ``W`` ticks
   per step. Outputs are spike counts per window read at offset ``lag``, so output step ``t``
   is NIR step ``t``.
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from nsc_runtime import hw

from ..defaults import DEFAULT_MAX_FANIN
from ..errors import FrontendError
from ..ir import Graph, Input, Neurons, Output, SpikeCount, Synapses
from ..ops.membrane import Membrane
from ..passes.encode_weights import Q_MAX, Q_MIN  # 16 levels on 4 axon types

STATELESS = ("Affine", "Linear", "Scale", "Flatten", "Delay", "_Identity")
SPIKING = ("IF", "LIF", "CubaLIF")
INTEGRATORS = ("I", "LI")  # spiking when followed by a Threshold, else membrane readouts
C_MAX = hw.WEIGHT_MAX // 8  # the largest weight unit c with 8c <= 255
RESET_MODES = ("nir", "subtract")


def back_edges(succ: dict[str, list[str]], roots: list[str]) -> set[tuple[str, str]]:
    """The edges ``(u, v)`` that close a cycle in a depth-first walk of ``succ`` from
    ``roots`` in order (successors in list order): nsc's convention for which population
    pair of a NIR cycle carries the previous step (shared by import and export)."""
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the walk's stack, 2: done
    for root in roots:
        if state.get(root):
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            u, rest = stack[-1]
            v = next(rest, None)
            if v is None:
                state[u] = 2
                stack.pop()
            elif state.get(v) == 1:
                back.add((u, v))
            elif not state.get(v):
                state[v] = 1
                stack.append((v, iter(succ[v])))
    return back


@dataclass
class NodeFidelity:
    """How one NIR node was built: ``status`` is ``exact``, ``approximate`` or ``folded``
    (a stateless node merged into synapse weights); ``notes`` say what was changed and why."""

    node: str
    nir_type: str
    status: str
    notes: list[str] = field(default_factory=list)
    max_weight_error: float = 0.0  # relative to the largest |weight| of the neuron, worst neuron


@dataclass
class ImportReport:
    """What :func:`import_nir` did: per NIR node its fidelity, the time step used, the lag
    (ticks) of every population, and the nsc names chosen for NIR names."""

    dt: float
    reset: str
    nodes: dict[str, NodeFidelity] = field(default_factory=dict)
    lags: dict[str, int] = field(default_factory=dict)
    window: int = 1  # ticks per NIR step (> 1 only for cycles through several populations)
    warnings: list[str] = field(default_factory=list)  # about what compiling will do
    names: dict[str, str] = field(default_factory=dict)  # NIR name -> nsc name

    @property
    def exact(self) -> bool:
        """True when every node was built exactly (spike trains equal NIR's semantics)."""
        return all(f.status != "approximate" for f in self.nodes.values())

    @property
    def max_weight_error(self) -> float:
        return max((f.max_weight_error for f in self.nodes.values()), default=0.0)

    def approximations(self) -> list[NodeFidelity]:
        return [f for f in self.nodes.values() if f.status == "approximate"]

    def summary(self) -> str:
        """One line per node: ``name (type): status; notes``."""
        lines = [
            f"NIR import (dt={self.dt:g}, reset={self.reset}, window={self.window}): "
            f"{'exact' if self.exact else 'APPROXIMATE'}, "
            f"max relative weight error {self.max_weight_error:.3g}"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        for f in self.nodes.values():
            note = "; ".join(f.notes)
            lines.append(f"  {f.node} ({f.nir_type}): {f.status}" + (f"; {note}" if note else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dt": self.dt,
            "reset": self.reset,
            "exact": self.exact,
            "max_weight_error": self.max_weight_error,
            "lags": dict(self.lags),
            "window": self.window,
            "warnings": list(self.warnings),
            "nodes": {
                k: {
                    "type": f.nir_type,
                    "status": f.status,
                    "notes": list(f.notes),
                    "max_weight_error": f.max_weight_error,
                }
                for k, f in self.nodes.items()
            },
        }


def from_nir(graph_or_path: Any, *, dt: float = 1e-4, reset: str = "nir") -> Graph:
    """A NIR graph (``nir.NIRGraph``, or the path of a ``.nir`` file) as a neuron-level nsc
    graph; warns (``UserWarning``) with the fidelity report when anything was approximated.
    ``dt``: the NIR time step that one tick stands for (default: snnTorch's 1e-4);
    ``reset="subtract"`` builds IF/LIF/CubaLIF with subtractive reset (what snnTorch's Leaky
    does by default, which its exporter writes as ``v_reset = 0``)."""
    graph, report = import_nir(graph_or_path, dt=dt, reset=reset)
    if not report.exact or report.warnings:
        warnings.warn(report.summary(), UserWarning, stacklevel=2)
    return graph


def import_nir(
    graph_or_path: Any, *, dt: float = 1e-4, reset: str = "nir"
) -> tuple[Graph, ImportReport]:
    """Like :func:`from_nir`, and also return the :class:`ImportReport` (never warns)."""
    if not (dt > 0 and math.isfinite(dt)):
        raise FrontendError(f"NIR import: dt must be a positive time step, got {dt}")
    if reset not in RESET_MODES:
        raise FrontendError(f"NIR import: reset must be one of {RESET_MODES}, got {reset!r}")
    nir_graph = _load(graph_or_path)
    from .exporter import restore_nsc

    restored = restore_nsc(nir_graph)
    if restored is not None:
        report = ImportReport(dt, reset)
        for name in nir_graph.nodes:
            report.nodes[name] = NodeFidelity(
                name, type(nir_graph.nodes[name]).__name__, "exact", ["restored from nsc metadata"]
            )
        return restored, report
    return _Importer(nir_graph, dt, reset).build()


def _load(graph_or_path: Any) -> Any:
    try:
        import nir
    except ImportError as err:  # pragma: no cover - nir is a dependency
        raise FrontendError("importing NIR needs the 'nir' package (pip install nir)") from err
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        if not path.is_file():
            raise FrontendError(f"{path}: no such NIR file")
        try:
            graph = nir.read(path)
        except Exception as err:  # nir/h5py raise many types for a bad file
            raise FrontendError(f"{path}: not a readable NIR file ({err})") from None
    else:
        graph = graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise FrontendError(f"expected a nir.NIRGraph or a .nir path, got {type(graph).__name__}")
    return _plain(nir, graph)


def _plain(nir: Any, node: Any) -> Any:
    """``node`` with torch tensors among its parameters as numpy arrays (Rockpool's exporter
    leaves some, with gradients), on a shallow copy: the caller's graph is left as it is."""
    if isinstance(node, nir.NIRGraph):
        new = copy.copy(node)
        new.nodes = {k: _plain(nir, v) for k, v in node.nodes.items()}
        return new
    tensors = {k: v for k, v in vars(node).items() if hasattr(v, "detach") and hasattr(v, "numpy")}
    if not tensors:
        return node
    new = copy.copy(node)
    for k, v in tensors.items():
        setattr(new, k, v.detach().cpu().numpy())
    return new


# ---------------------------------------------------------------------------------------------


@dataclass
class _Identity:
    """Stand-in for the Input/Output nodes of an inlined subgraph."""


@dataclass
class _Term:
    """Part of a population's input: ``matrix @ s_source(t - delay)``."""

    source: str
    matrix: np.ndarray  # (n_target_signal, n_source)
    delay: int


@dataclass
class _Signal:
    """A stateless node's output as a sum of terms plus a constant."""

    terms: list[_Term]
    bias: np.ndarray


def _flat_size(shape: Any) -> int:
    arr = np.asarray(shape).reshape(-1)
    return int(np.prod(arr)) if arr.size else 1


def _inline(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with nested NIRGraphs inlined (names ``outer.inner``)."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = _inline(node, full + ".")
            nodes.update(inner_nodes)
            edges.extend(inner_edges)
            ins = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise FrontendError(
                    f"NIR subgraph {full!r} has {len(ins)} inputs and {len(outs)} outputs; "
                    "only subgraphs with one of each are supported"
                )
            for k in ins + outs:
                nodes[k] = _Identity()
            entry[full], exit_[full] = ins[0], outs[0]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        src, dst = prefix + a, prefix + b
        src = exit_.get(src, src)
        dst = entry.get(dst, dst)
        edges.append((src, dst))
    return nodes, edges


class _Importer:
    def __init__(self, nir_graph: Any, dt: float, reset: str) -> None:
        import nir

        self.nir = nir
        self.dt = dt
        self.reset = reset
        self.report = ImportReport(dt, reset)
        self.nodes, edges = _inline(nir_graph)
        top_inputs = [k for k, v in nir_graph.nodes.items() if isinstance(v, nir.Input)]
        top_outputs = [k for k, v in nir_graph.nodes.items() if isinstance(v, nir.Output)]
        self.inputs, self.outputs = top_inputs, top_outputs
        self.preds: dict[str, list[str]] = {k: [] for k in self.nodes}
        self.succs: dict[str, list[str]] = {k: [] for k in self.nodes}
        for a, b in edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise FrontendError(f"NIR edge ({a!r}, {b!r}) names an unknown node {end!r}")
            self.preds[b].append(a)
            self.succs[a].append(b)
        self.names: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        self.fused: dict[str, str] = {}  # Threshold name -> its integrator (the population)
        self.heaviside: set[str] = set()  # Thresholds alone: memoryless populations
        self.readouts: set[str] = set()  # I/LI alone: membrane readouts computed on the host
        self.clocks: dict[str, tuple[int, np.ndarray]] = {}  # population -> (lag, bias weights)
        self.window = 1
        self._w_leak = np.zeros(0)
        self._w_v0 = np.zeros(0)
        self._classify()

    # -- structure ------------------------------------------------------------------------
    def _classify(self) -> None:
        nir = self.nir
        for name, node in self.nodes.items():
            t = "_Identity" if isinstance(node, _Identity) else type(node).__name__
            if isinstance(node, nir.Input):
                t = "Input"
            elif isinstance(node, nir.Output):
                t = "Output"
            if t not in (*STATELESS, *SPIKING, *INTEGRATORS, "Threshold", "Input", "Output"):
                raise FrontendError(
                    f"NIR node {name!r} is a {t}, which nsc does not import (supported: Input, "
                    "Output, Affine, Linear, Scale, Flatten, Delay, IF, LIF, CubaLIF, I, LI, "
                    "Threshold)"
                )
            self.kind[name] = t
        for name, t in list(self.kind.items()):
            if t != "Threshold":
                continue
            preds = self.preds[name]
            if len(preds) == 1 and self.kind[preds[0]] in INTEGRATORS:
                integ = preds[0]
                if self.succs[integ] != [name]:
                    raise FrontendError(
                        f"NIR node {integ!r} ({self.kind[integ]}) feeds its Threshold {name!r} "
                        "and other nodes: nsc builds an integrator either as spiking neurons "
                        "(with the Threshold) or as a membrane readout, not both at once"
                    )
                self.fused[name] = integ
            else:  # a memoryless Heaviside of the current step's input
                self.heaviside.add(name)
        for name, t in self.kind.items():
            if t in INTEGRATORS and name not in self.fused.values():
                self._check_readout(name)
                self.readouts.add(name)

    def _check_readout(self, name: str) -> None:
        """A membrane readout (I or LI without Threshold) is computed on the host from the
        spikes before it: it may feed Outputs only (through Flatten)."""
        todo = list(self.succs[name])
        while todo:
            nxt = todo.pop()
            t = self.kind[nxt]
            if t in ("Flatten", "_Identity"):
                todo += self.succs[nxt]
            elif t != "Output" or nxt not in self.outputs:
                raise FrontendError(
                    f"NIR node {name!r} ({self.kind[name]}) is a membrane readout (no Threshold "
                    f"after it) and feeds {nxt!r} ({t}): nsc computes membrane readouts on the "
                    "host from spikes, so they may feed graph Outputs only; put a Threshold "
                    "after it to make it spike"
                )

    def _is_population(self, name: str) -> bool:
        return self.kind[name] in SPIKING or name in self.fused.values() or name in self.heaviside

    def _spike_source(self, name: str) -> str | None:
        """The population or host input whose spikes ``name`` emits, if it emits spikes."""
        t = self.kind[name]
        if t == "Input" and name in self.inputs:
            return name
        if t in SPIKING:
            return name
        if t == "Threshold":
            return self.fused.get(name, name)
        return None

    def _nsc_name(self, nir_name: str) -> str:
        if nir_name in self.names:
            return self.names[nir_name]
        base = re.sub(r"[^A-Za-z0-9_]", "_", nir_name) or "n"
        if not re.match(r"[A-Za-z_]", base):
            base = "n" + base
        name, i = base, 1
        taken = set(self.names.values())
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        self.names[nir_name] = name
        return name

    # -- stateless folding ------------------------------------------------------------------
    def _signal(self, name: str, visiting: set[str], memo: dict[str, _Signal]) -> _Signal:
        """The output of node ``name`` as sources' spikes through matrices and delays."""
        if name in memo:
            return memo[name]
        src = self._spike_source(name)
        if src is not None:
            n = self._size(src)
            return _Signal([_Term(src, np.eye(n), 0)], np.zeros(n))
        t = self.kind[name]
        if t not in STATELESS:
            raise FrontendError(f"NIR node {name!r} ({t}) cannot feed a neuron population")
        if name in visiting:
            raise FrontendError(
                f"NIR node {name!r} lies on a cycle with no neuron population in it"
            )
        visiting.add(name)
        preds = self.preds[name]
        if not preds:
            raise FrontendError(f"NIR node {name!r} ({t}) has no input edge")
        parts = [self._signal(p, visiting, memo) for p in preds]
        visiting.discard(name)
        sizes = {p.bias.shape[0] for p in parts}
        if len(sizes) != 1:
            raise FrontendError(f"NIR node {name!r}: its inputs have different sizes {sizes}")
        terms = [term for p in parts for term in p.terms]
        bias = np.sum([p.bias for p in parts], axis=0)
        node = self.nodes[name]
        out = self._apply(name, t, node, _Signal(terms, bias))
        memo[name] = out
        self.report.nodes[name] = NodeFidelity(name, t, "folded")
        return out

    def _apply(self, name: str, t: str, node: Any, sig: _Signal) -> _Signal:
        n_in = sig.bias.shape[0]
        if t in ("Affine", "Linear"):
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2 or w.shape[1] != n_in:
                raise FrontendError(
                    f"NIR node {name!r} ({t}): weight shape {w.shape} does not take {n_in} inputs"
                )
            bias = w @ sig.bias
            if t == "Affine":
                bias = bias + np.asarray(node.bias, np.float64).reshape(-1)
            return _Signal([_Term(x.source, w @ x.matrix, x.delay) for x in sig.terms], bias)
        if t == "Scale":
            s = np.asarray(node.scale, np.float64).reshape(-1)
            if s.size not in (1, n_in):
                raise FrontendError(
                    f"NIR node {name!r} (Scale): {s.size} factors for {n_in} inputs"
                )
            s = np.broadcast_to(s, (n_in,))
            return _Signal(
                [_Term(x.source, s[:, None] * x.matrix, x.delay) for x in sig.terms], s * sig.bias
            )
        if t == "Delay":
            d = np.asarray(node.delay, np.float64).reshape(-1)
            steps = d / self.dt
            if d.size == 0 or not np.allclose(steps, np.round(steps), rtol=0, atol=1e-6):
                raise FrontendError(
                    f"NIR node {name!r} (Delay): delays {d.tolist()} are not whole multiples "
                    f"of dt={self.dt:g}"
                )
            if d.size not in (1, n_in):
                raise FrontendError(f"NIR node {name!r} (Delay): {d.size} delays for {n_in} inputs")
            ks = np.broadcast_to(np.round(steps).astype(np.int64), (n_in,))
            if ks.min() < 0:
                raise FrontendError(f"NIR node {name!r} (Delay): negative delay {d.min()}")
            terms = []
            for k in np.unique(ks):  # rows delayed by k steps, one term per distinct delay
                rows = (ks == k)[:, None]
                terms += [_Term(x.source, x.matrix * rows, x.delay + int(k)) for x in sig.terms]
            return _Signal(terms, sig.bias)
        return sig  # Flatten, identities: 1-D vectors pass unchanged

    def _size(self, name: str) -> int:
        t = self.kind[name]
        node = self.nodes[name]
        if t == "Input":
            return _flat_size(node.input_type["input"])
        if t in ("IF", "LIF", "CubaLIF"):
            return int(np.asarray(node.v_threshold).size)
        if t in INTEGRATORS:
            return int(np.asarray(node.r).size)
        if t == "Threshold":
            return int(np.asarray(node.threshold).size)
        raise FrontendError(f"NIR node {name!r} ({t}) has no spike output")

    # -- building ---------------------------------------------------------------------------
    def build(self) -> tuple[Graph, ImportReport]:
        pops = [n for n in self.nodes if self._is_population(n)]
        if not pops:
            raise FrontendError(
                "the NIR graph has no spiking node (IF, LIF, CubaLIF, Threshold, I/LI with a "
                "Threshold): nsc needs at least one neuron population on the cores"
            )
        memo: dict[str, _Signal] = {}
        inputs: dict[str, _Signal] = {}
        for p in pops:
            preds = self.preds[p]
            if not preds:
                raise FrontendError(f"NIR node {p!r} ({self.kind[p]}) has no input edge")
            parts = [self._signal(q, set(), memo) for q in preds]
            n = self._size(p)
            for q, part in zip(preds, parts):
                if part.bias.shape[0] != n:
                    raise FrontendError(
                        f"NIR node {p!r} has {n} neurons but its input {q!r} gives "
                        f"{part.bias.shape[0]} values"
                    )
            inputs[p] = _Signal(
                [x for part in parts for x in part.terms],
                np.sum([part.bias for part in parts], axis=0),
            )
        back = self._back_edges(pops, inputs)
        lags = self._lags(pops, inputs, back)
        window = max([1] + [lags[s] - lags[t] + 1 for s, t in back])
        if window > hw.DELAY_MAX:
            raise FrontendError(
                f"NIR cycles span {window} populations; a cycle needs one tick per population "
                f"and the cores' delays reach {hw.DELAY_MAX}"
            )
        self.window = window
        self.report.window = window
        self.report.lags = {self._nsc_name(p): lags[p] for p in pops}
        merged = {p: self._merge(p, inputs[p], lags, back) for p in pops}
        g = Graph(attrs={"window": window, "level": "scheduled"})
        for name in self.inputs:
            g.add(Input(self._nsc_name(name), features=self._size(name), levels=2))
            self.report.nodes[name] = NodeFidelity(
                name, "Input", "exact", [f"0/1 spikes per step (levels=2, window={window})"]
            )
        scales = {}
        for p in pops:
            pop, scales[p] = self._population(p, merged[p], inputs[p].bias, lags[p])
            g.add(pop)
        for p in pops:
            target = self._nsc_name(p)
            scale, unit, gain = scales[p]
            for (src, delay), m in merged[p].items():
                w_int = _quantize_rows(m * gain[:, None], scale, unit)
                if not w_int.any():
                    continue
                src_name = self._nsc_name(src)
                suffix = f"_d{delay}" if delay > 1 else ""
                g.add(
                    Synapses(
                        g.fresh_name(f"{src_name}_to_{target}{suffix}"),
                        source=src_name,
                        target=target,
                        weight=w_int,
                        delay=np.full(w_int.shape[1], delay),
                    )
                )
        self._add_clocks(g)
        self._relay_delays(g)
        self._check_fanin(g)
        for r in self.readouts:
            self._readout(g, r, memo, lags)
        for out in self.outputs:
            preds = self.preds[out]
            src = self._output_source(out, preds)
            if src in self.readouts:
                g.add(Output(g.fresh_name(self._nsc_name(out)), source=self._nsc_name(src)))
                self.report.nodes[out] = NodeFidelity(
                    out, "Output", "exact", [f"membrane potential of {src!r} per step"]
                )
                continue
            count = g.fresh_name(f"{self._nsc_name(out)}_count")
            g.add(SpikeCount(count, source=self._nsc_name(src), offset=lags[src]))
            g.add(Output(g.fresh_name(self._nsc_name(out)), source=count))
            self.report.nodes[out] = NodeFidelity(
                out,
                "Output",
                "exact",
                [f"spikes of {src!r} per step (read {lags[src]} ticks late)"],
            )
        for name, t in self.kind.items():
            if name not in self.report.nodes and t in ("Threshold", "_Identity"):
                self.report.nodes[name] = NodeFidelity(name, t, "folded")
        self.report.names = dict(self.names)
        g.verify()
        return g, self.report

    def _readout(self, g: Graph, r: str, memo: dict[str, _Signal], lags: dict[str, int]) -> None:
        """The membrane readout ``r`` (I or LI alone) as a host :class:`Membrane` reading the
        spike count per step of the one population (or input) that drives it."""
        t = self.kind[r]
        preds = self.preds[r]
        if not preds:
            raise FrontendError(f"NIR node {r!r} ({t}) has no input edge")
        parts = [self._signal(q, set(), memo) for q in preds]
        n = self._size(r)
        bias = np.zeros(n)
        by_key: dict[tuple[str, int], np.ndarray] = {}
        for q, part in zip(preds, parts):
            if part.bias.shape[0] != n:
                raise FrontendError(
                    f"NIR node {r!r} has {n} values but its input {q!r} gives {part.bias.shape[0]}"
                )
            bias = bias + part.bias
            for term in part.terms:
                key = (term.source, term.delay)
                by_key[key] = by_key[key] + term.matrix if key in by_key else term.matrix
        if len(by_key) != 1:
            found = ", ".join(f"{s!r} delayed {d}" for s, d in by_key) or "none"
            raise FrontendError(
                f"NIR node {r!r} ({t}, a membrane readout) must read the spikes of one "
                f"population (or input) with one delay; it reads {found}"
            )
        (src, delay), matrix = next(iter(by_key.items()))
        dyn = self._dynamics(r)
        gain = dyn["gain"]
        if src in self.inputs:
            source = self._nsc_name(src)
            what = f"input {src!r}"
        else:
            source = g.fresh_name(f"{self._nsc_name(r)}_spikes")
            g.add(SpikeCount(source, source=self._nsc_name(src), offset=lags[src]))
            what = f"population {src!r} (spike count per step, read {lags[src]} ticks late)"
        g.add(
            Membrane(
                self._nsc_name(r),
                source=source,
                weight=gain[:, None] * matrix,
                bias=gain * bias + dyn["drift"],
                decay=dyn["decay"],
                delay=int(delay),
            )
        )
        notes = list(dyn["notes"])
        notes.append(
            f"membrane readout computed on the host (float64) from the spikes of {what}: "
            "v[t] = decay*v[t-1] + weight @ s[t] + bias; nsc outputs the potential"
        )
        self.report.nodes[r] = NodeFidelity(r, t, "exact", notes)

    def _add_clocks(self, g: Graph) -> None:
        """Clock neurons ``clock<L>`` (one per phase ``L``) spike once per window ``W`` from
        tick ``L - 1`` on (``v0 = W - L``, leak 1, threshold ``W``, linear reset), so their
        spikes (delay 1) reach a population acting at ticks ``t*W + L`` at each of its steps:
        a bias as a weight, with no pre-roll."""
        w = self.window
        made: dict[int, str] = {}
        for p, (lag, weight) in self.clocks.items():
            name = made.get(lag, "")
            if not name:
                name = made[lag] = g.fresh_name(f"clock{lag}")
                # V climbs by 1 per tick and fires at W (linear reset): period W, first spike
                # at tick lag - 1, arriving (delay 1) at tick lag
                unit = Neurons.relu(name, alpha=np.full(1, w), leak=np.ones(1))
                g.add(unit.replace(v0=np.full(1, w - lag)))
                # a zero-weight self-synapse, so that encode-weights gives the clock type
                # weights: replicate-fanout copies a population's type weights and fails on a
                # population with no input at all (nsc/passes/lower.py, _replicate)
                g.add(
                    Synapses(
                        g.fresh_name(f"{name}_self"),
                        source=name,
                        target=name,
                        weight=np.zeros((1, 1)),
                        delay=np.ones(1),
                    )
                )
                self.report.nodes[name] = NodeFidelity(
                    name, "clock", "exact", [f"spikes every {w} ticks from tick {lag - 1} on"]
                )
            target = self._nsc_name(p)
            g.add(
                Synapses(
                    g.fresh_name(f"{name}_to_{target}"),
                    source=name,
                    target=target,
                    weight=weight[:, None],
                    delay=np.ones(1),
                )
            )

    def _check_fanin(self, g: Graph) -> None:
        """Warn where ``nsc.compile``'s split-fanin (default max 64) would change the function."""
        for pop in g.of_type(Neurons):
            incoming = [s.weight != 0 for s in g.of_type(Synapses) if s.target == pop.name]
            if not incoming:
                continue
            fanin = int(np.concatenate(incoming, axis=1).sum(axis=1).max())
            if fanin > DEFAULT_MAX_FANIN:
                self.report.warnings.append(
                    f"population {pop.name!r} has neurons with {fanin} inputs: nsc.compile's "
                    f"split-fanin (max_fanin={DEFAULT_MAX_FANIN}) turns them into trees whose "
                    "spikes are not those of one neuron on the summed input (docs/conversion.md); "
                    f"compile with max_fanin >= {fanin} where the crossbar allows it"
                )

    def _relay_delays(self, g: Graph) -> None:
        """Give every population one outgoing delay: the placer keys a source's axon by
        (source, axon type), so edges of one source with different delays get a relay
        population (``<src>_relay<e>``: threshold-1 copies, one tick each way) carrying the
        extra ``e`` ticks."""
        for pop in g.of_type(Neurons):
            outgoing = [s for s in g.of_type(Synapses) if s.source == pop.name]
            delays = sorted({int(d) for s in outgoing for d in s.delay})
            if len(delays) < 2:
                continue
            base = delays[0]
            for extra in (d - base for d in delays[1:]):
                relay = g.fresh_name(f"{pop.name}_relay{extra}")
                g.add(Neurons.relu(relay, alpha=np.ones(pop.count), leak=np.zeros(pop.count)))
                g.add(
                    Synapses(
                        g.fresh_name(f"{pop.name}_to_{relay}"),
                        source=pop.name,
                        target=relay,
                        weight=np.eye(pop.count, dtype=np.int64),
                        delay=np.full(pop.count, base),
                    )
                )
                for s in outgoing:
                    if int(s.delay[0]) == base + extra:
                        g.nodes[s.name] = s.replace(
                            source=relay, delay=np.full_like(s.delay, extra)
                        )
                self.report.nodes[relay] = NodeFidelity(
                    relay,
                    "relay",
                    "exact",
                    [f"copies {pop.name!r} one tick later, carries {extra} more ticks of delay"],
                )

    def _output_source(self, out: str, preds: list[str]) -> str:
        if len(preds) != 1:
            raise FrontendError(f"NIR output {out!r} has {len(preds)} input edges; expected one")
        node = preds[0]
        while self.kind[node] in ("Flatten", "_Identity") and len(self.preds[node]) == 1:
            node = self.preds[node][0]
        if node in self.readouts:
            return node
        src = self._spike_source(node)
        if src is None or src in self.inputs:
            raise FrontendError(
                f"NIR output {out!r} reads {node!r} ({self.kind[node]}), not a spiking node: "
                "nsc's outputs are spike counts of neuron populations"
            )
        return src

    def _back_edges(self, pops: list[str], inputs: dict[str, _Signal]) -> set[tuple[str, str]]:
        """(source, target) population pairs that close a cycle in a depth-first walk from the
        inputs (populations and their successors in NIR node order): the edges that carry
        the previous step (a self-recurrence is one)."""
        succ: dict[str, list[str]] = {p: [] for p in pops}
        for p in pops:
            for term in inputs[p].terms:
                if term.source not in self.inputs and p not in succ[term.source]:
                    succ[term.source].append(p)
        fed = [p for p in pops if any(t.source in self.inputs for t in inputs[p].terms)]
        return back_edges(succ, fed + pops)

    def _lags(
        self, pops: list[str], inputs: dict[str, _Signal], back: set[tuple[str, str]]
    ) -> dict[str, int]:
        """Ticks of lag of each population behind the NIR step: the longest path of
        feed-forward hops (back edges left out) from the inputs."""
        lag: dict[str, int] = {}

        def visit(p: str) -> int:
            if p in lag:
                return lag[p]
            best = 0
            for term in inputs[p].terms:
                if term.source in self.inputs or (term.source, p) in back:
                    continue
                best = max(best, visit(term.source) + 1)
            lag[p] = best
            return best

        for p in pops:
            visit(p)
        return lag

    def _merge(
        self, p: str, sig: _Signal, lags: dict[str, int], back: set[tuple[str, str]]
    ) -> dict[tuple[str, int], np.ndarray]:
        """The input terms of ``p`` summed per (source, delay in ticks): a NIR step is
        ``window`` ticks; a back edge carries one step."""
        by_key: dict[tuple[str, int], np.ndarray] = {}
        w = self.window
        for term in sig.terms:
            if term.source in self.inputs:
                delay = lags[p] + w * term.delay
            elif (term.source, p) in back:
                delay = w + lags[p] - lags[term.source] + w * term.delay
            else:
                delay = lags[p] - lags[term.source] + w * term.delay
            lo = 0 if term.source in self.inputs else hw.DELAY_MIN
            if not lo <= delay <= hw.DELAY_MAX:
                raise FrontendError(
                    f"NIR edge {term.source!r} -> {p!r} needs a delay of {delay} ticks "
                    f"(pipeline lag plus NIR delay); the cores allow {lo}..{hw.DELAY_MAX}"
                )
            key = (term.source, delay)
            by_key[key] = by_key[key] + term.matrix if key in by_key else term.matrix
        return by_key

    # -- neurons ----------------------------------------------------------------------------
    def _dynamics(self, p: str) -> dict[str, Any]:
        """Per-neuron float parameters of population ``p`` in NIR's units, discretised with
        forward Euler at ``dt``: ``v[t] = decay*v[t-1] + gain*I[t] + drift``."""
        t, node, dt = self.kind[p], self.nodes[p], self.dt
        n = self._size(p)
        notes: list[str] = []
        exact = True

        def arr(x: Any) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, np.float64).reshape(-1), (n,)).copy()

        reset_mode = "subtract" if self.reset == "subtract" else "value"
        v_reset = np.zeros(n)
        drift = np.zeros(n)
        thr = np.zeros(n)  # a membrane readout has none
        if t == "IF":
            gain, decay = arr(node.r), np.ones(n)
            thr, v_reset = arr(node.v_threshold), arr(node.v_reset)
            notes.append("v[t] = v[t-1] + r*I[t] (the discrete integrator, no dt)")
        elif t == "I":
            gain, decay = arr(node.r), np.ones(n)
            notes.append("v[t] = v[t-1] + r*I[t] (the discrete integrator, no dt)")
        elif t in ("LIF", "CubaLIF", "LI"):
            if t == "CubaLIF":
                tau, r = arr(node.tau_mem), arr(node.r)
            else:
                tau, r = arr(node.tau), arr(node.r)
            with np.errstate(divide="ignore", invalid="ignore"):
                rate = dt / tau
                gain = r * dt / tau
            both_inf = np.isinf(tau) & np.isinf(r)
            if both_inf.any():
                gain[both_inf] = 1.0
                notes.append("tau = r = inf: input gain taken as 1 (snnTorch's r = tau/dt)")
            if not np.all(np.isfinite(gain)):
                raise FrontendError(f"NIR node {p!r} ({t}): tau/r give no finite input gain")
            decay = 1.0 - rate
            drift = rate * arr(node.v_leak)
            if t == "CubaLIF":
                syn_rate = dt / arr(node.tau_syn)
                w_in = arr(node.w_in)
                gain = gain * syn_rate * w_in
                syn_decay = 1.0 - syn_rate
                if np.any(np.abs(syn_decay) > 1e-6):  # float32 files: tau_syn = dt to 1e-7
                    if np.any(syn_decay >= 1.0) or np.any(syn_decay < 0):
                        raise FrontendError(
                            f"NIR node {p!r} (CubaLIF): synaptic decay {syn_decay.max():g} per "
                            "step is outside [0, 1)"
                        )
                    gain = gain / (1.0 - syn_decay)
                    exact = False
                    notes.append(
                        "synaptic current filter (decay "
                        f"{float(syn_decay.max()):.3g}/step) replaced by its total charge "
                        "delivered in the same step (one state variable per core neuron)"
                    )
                else:
                    notes.append("tau_syn = dt: the synaptic current passes through (exact)")
            if t != "LI":
                thr, v_reset = arr(node.v_threshold), arr(node.v_reset)
            if p in self.readouts:
                if np.any(np.abs(decay - 1.0) > 1e-12):
                    notes.append(
                        f"decay {float(decay.min()):.6g}/step (forward Euler, 1 - dt/tau), "
                        "applied exactly on the host"
                    )
            elif np.any(np.abs(decay - 1.0) > 1e-12):
                exact = False
                notes.append(
                    f"exponential decay (factor {float(decay.min()):.4g}/step) approximated by "
                    "a constant leak toward 0 (leak reversal); see docs/nir.md"
                )
        elif t == "Threshold":
            gain, decay = np.ones(n), np.ones(n)
            thr = arr(node.threshold)
            reset_mode = "stateless"
            notes.append(
                "memoryless Heaviside z[t] = I[t] > threshold: threshold 1, floor 0 (beta = 0, "
                "kappa = 1) and reset to 0 leave V = 0 after every tick; the threshold is a leak"
            )
        else:  # pragma: no cover - guarded by _classify
            raise FrontendError(f"NIR node {p!r}: {t} is not a population")
        if p in self.fused.values():
            thr_node = next(k for k, v in self.fused.items() if v == p)
            thr = arr(self.nodes[thr_node].threshold)
            reset_mode = "none"
            notes.append(f"fused with Threshold {thr_node!r}: spikes without reset")
        if reset_mode == "subtract" and np.any(v_reset != 0):
            notes.append("reset='subtract' ignores v_reset")
        return {
            "gain": gain,
            "decay": decay,
            "drift": drift,
            "thr": thr,
            "v_reset": v_reset,
            "reset_mode": reset_mode,
            "notes": notes,
            "exact": exact,
        }

    def _windowed(
        self,
        p: str,
        lag: int,
        leak: np.ndarray,
        leaky: np.ndarray,
        decay: np.ndarray,
        weights: np.ndarray,
        scale: np.ndarray,
        unit: np.ndarray,
        notes: list[str],
    ) -> bool:
        """With ``window > 1`` ticks per step, a neuron must act only at its phase tick
        ``t*window + lag``: its inputs arrive then, and its bias comes from a clock neuron
        firing once per window (a leak would act every tick). Sets ``_w_leak`` and ``_w_v0``
        (added to v0); returns whether the construction is exact."""
        w = self.window
        exact = True
        self._w_v0 = np.zeros_like(leak)
        self._w_leak = leak.copy()
        if p in self.heaviside:
            # V is 0 after every tick: a draining (negative) leak is harmless between phase
            # ticks; a positive one would fire there, so it comes from a clock instead
            if not (leak > 0).any():
                return exact
        elif self.reset == "subtract" or p in self.fused.values():
            exact = False
            notes.append(
                f"with {w} ticks per step a neuron left above threshold after its reset fires "
                "again before its next step"
            )
        if leaky.any():
            self._w_leak = np.where(leaky, -np.maximum(1, np.round(-leak / w)), leak)
            notes.append(f"decay leak spread over the {w} ticks of a step")
        bias = np.where(leaky, 0, leak)
        keep = np.where(leaky, self._w_leak, 0)  # the leak left to act every tick
        if p in self.heaviside:
            bias, keep = np.where(leak > 0, leak, 0), np.where(leak > 0, 0, leak)
        if not bias.any():
            return exact
        w_int = _quantize_rows(weights, scale, unit)
        fits = all(
            _weight_unit(np.append(w_int[j], bias[j])) is not None for j in np.flatnonzero(bias)
        )
        if not fits:
            notes.append(
                f"bias applied every tick ({w} times per step): it does not fit the weights"
            )
            return False
        phase = lag if lag > 0 else w  # lag 0: step 0's bias is the initial potential
        if lag == 0:
            self._w_v0 = bias.copy()
        self._w_leak = keep
        self.clocks[p] = (phase, bias.astype(np.int64))
        notes.append(f"bias from a clock neuron firing once per {w}-tick step at phase {lag}")
        return exact

    def _population(
        self, p: str, merged: dict[tuple[str, int], np.ndarray], in_bias: np.ndarray, lag: int
    ) -> tuple[Neurons, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The population ``p`` and its (scale, weight unit, input gain) per neuron."""
        dyn = self._dynamics(p)
        n = self._size(p)
        gain = dyn["gain"]
        weights = np.concatenate([m * gain[:, None] for m in merged.values()], axis=1)
        bias = gain * in_bias + dyn["drift"]
        thr, v_reset, mode = dyn["thr"], dyn["v_reset"], dyn["reset_mode"]
        stateless = mode == "stateless"
        if stateless:  # I > thr iff I - thr >= 1 unit: alpha 1, the threshold joins the bias
            bias, thr, mode = bias - thr, np.zeros(n), "value"
        notes = list(dyn["notes"])
        exact = bool(dyn["exact"])
        scale = np.ones(n)
        decaying = np.abs(dyn["decay"] - 1.0) > 1e-12
        unit = np.zeros(n, np.int64)  # 0: exact scale (weights used as is)
        err = np.zeros(n)
        for j in range(n):
            row = weights[j]
            extra = [bias[j], thr[j]] + ([v_reset[j]] if mode == "value" else [])
            k = _exact_scale(row, extra)
            if k is not None and _fits(row * k, thr[j] * k, bias[j] * k, mode):
                if decaying[j]:
                    # the decay becomes a leak of whole units: refine the units as far as the
                    # weights' 16 levels allow, so the leak's rounding costs least
                    c = _weight_unit(np.round(row * k)) or 1
                    for m in range(C_MAX // c, 1, -1):
                        if _fits(row * k * m, thr[j] * k * m, bias[j] * k * m, mode):
                            k *= m
                            break
                scale[j] = k
                continue
            exact = False
            k, c = _approx_scale(row, thr[j], bias[j], mode)
            scale[j], unit[j] = k, c
            wq = _quantize_rows(row[None, :], np.array([k]), np.array([c]))[0]
            big = float(np.abs(row).max()) if row.size else 0.0
            err[j] = float(np.abs(wq / k - row).max()) / big if big > 0 else 0.0
        if unit.any():
            notes.append(
                f"{int(np.count_nonzero(unit))} of {n} neurons rounded onto 16 weight levels "
                f"(max relative weight error {float(err.max()):.3g})"
            )
        alpha, reset_v, v0 = _threshold_fields(scale, thr, v_reset, mode)
        leak = np.round(bias * scale)
        leak_rev = np.zeros(n)
        decay = dyn["decay"]
        leaky = np.abs(decay - 1.0) > 1e-12
        if leaky.any():
            # the constant leak toward 0 that removes, per tick, the mean exponential decay
            # of a potential between 0 and the threshold: (1 - decay) * alpha / 2
            mag = np.maximum(1, np.round((1.0 - decay) * alpha / 2.0))
            both = leaky & (leak != 0)
            if both.any():
                notes.append("neurons with both a bias and a decay keep the bias only")
            use = leaky & (leak == 0)
            leak = np.where(use, -mag, leak)
            leak_rev = np.where(use, 1, 0)
        if np.any(np.abs(leak) > hw.LEAK_MAX):
            exact = False
            notes.append(f"bias clipped to the leak range +-{hw.LEAK_MAX}")
            leak = np.clip(leak, hw.LEAK_MIN, hw.LEAK_MAX)
        if not np.allclose(leak[~leaky], (bias * scale)[~leaky], rtol=0, atol=1e-6):
            exact = False
            notes.append("bias rounded to an integer leak")
        if self.window > 1:
            exact = (
                self._windowed(p, lag, leak, leaky, decay, weights, scale, unit, notes) and exact
            )
            leak, v0 = self._w_leak, v0 + self._w_v0
        elif stateless and lag and (leak > 0).any():
            # a positive leak would fire the neuron during its `lag` ticks before step 0: the
            # bias comes from a clock neuron from step 0 on instead (a negative leak only
            # drains a potential the floor holds at 0)
            w_int = _quantize_rows(weights, scale, unit)
            pos = np.flatnonzero(leak > 0)
            if all(_weight_unit(np.append(w_int[j], leak[j])) is not None for j in pos):
                self.clocks[p] = (lag, np.where(leak > 0, leak, 0).astype(np.int64))
                leak = np.where(leak > 0, 0, leak)
                notes.append(
                    f"{pos.size} neurons take their positive bias from a clock neuron spiking "
                    "every tick from step 0 on"
                )
            else:
                exact = False
                notes.append(
                    f"positive bias fires the neuron during the {lag} ticks of pipeline lag "
                    "(it does not fit the weights as a clock synapse)"
                )
        elif lag and leak.any() and not stateless:
            # the population runs `lag` ticks before its step 0 and leaks during them: start
            # that much lower, so V equals v0 when step 0 begins; where a negative leak would
            # then cross the threshold on the way down, a clock neuron delivers the bias as a
            # synaptic weight from step 0 on instead
            shifted = v0 - lag * leak
            falling = leak < 0  # starts above v0 and falls to it: highest after the first tick
            bad = (shifted + np.where(falling, leak, 0)) >= alpha
            clock = np.zeros(n, np.int64)
            if bad.any() and not leaky.any():
                w_int = _quantize_rows(weights, scale, unit)
                if all(
                    _weight_unit(np.append(w_int[j], leak[j])) is not None
                    for j in np.flatnonzero(bad)
                ):
                    clock = np.where(bad, leak, 0).astype(np.int64)
            if leaky.any() or (bad.any() and not clock.any()):
                exact = False
                notes.append(f"leak during the {lag} ticks of pipeline lag is not compensated")
            else:
                v0 = np.where(bad, v0, shifted)
                leak = np.where(bad, 0, leak)
                notes.append(f"v0 offset by -{lag}*leak for the {lag} ticks of pipeline lag")
                if clock.any():
                    self.clocks[p] = (lag, clock)
                    notes.append(
                        f"{int(np.count_nonzero(clock))} neurons take their bias from a clock "
                        f"neuron spiking every tick from step 0 on (offsetting v0 would fire them)"
                    )
        if not stateless:
            notes.append(f"potential floor -{hw.BETA_MAX} (saturating); NIR has none")
        status = "exact" if exact else "approximate"
        self.report.nodes[p] = NodeFidelity(p, self.kind[p], status, notes, float(err.max()))
        full = np.full
        pop = Neurons(
            name=self._nsc_name(p),
            count=n,
            alpha=alpha,
            leak=leak,
            beta=full(n, 0 if stateless else hw.BETA_MAX),
            kappa=full(n, 1),
            reset_mode=full(
                n,
                {"value": hw.RESET_NORMAL, "subtract": hw.RESET_LINEAR, "none": hw.RESET_NONE}[
                    mode
                ],
            ),
            reset=reset_v,
            v0=v0,
            tm=full(n, 0),
            leak_reversal=leak_rev,
            stoch_leak=full(n, 0),
            stoch_synapse=full(n, 0),
        )
        return pop, (scale, unit, gain)


def _threshold_fields(
    scale: np.ndarray, thr: np.ndarray, v_reset: np.ndarray, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """alpha, reset, v0 for ``V = k*v + c``: spike iff ``v > thr`` iff ``V >= alpha``."""
    kt = np.round(scale * thr)
    if mode == "subtract":
        # V = k v - 1: V >= k*thr iff v >= thr + 1/k iff v > thr (v in units of 1/k), and
        # V -= alpha is v -= thr
        if np.any(kt < 1):
            raise FrontendError(
                "NIR import: reset='subtract' needs positive thresholds (V -= threshold)"
            )
        return kt, np.zeros_like(kt), np.full_like(kt, -1)
    shift = np.maximum(0, -kt)  # keep alpha >= 1 for thresholds <= -1
    alpha = kt + 1 + shift
    reset = np.round(scale * v_reset) + shift if mode == "value" else np.zeros_like(kt)
    return alpha, reset, shift


def _exact_scale(row: np.ndarray, extra: list[float]) -> float | None:
    """The smallest ``k > 0`` making every value of ``row`` and ``extra`` an integer (values
    read as fractions with denominators up to 4096), or None."""
    values = [float(x) for x in row if x != 0] + [float(x) for x in extra if x != 0]
    if not values:
        return 1.0
    fracs = []
    for x in values:
        f = Fraction(x).limit_denominator(4096)
        if abs(float(f) - x) > 1e-6 * max(1.0, abs(x)):
            return None
        fracs.append(f)
    lcm = 1
    for f in fracs:
        lcm = lcm * f.denominator // math.gcd(lcm, f.denominator)
        if lcm > 1 << 24:  # no scale that small integers could carry
            return None
    ints = [int(f * lcm) for f in fracs]
    g = 0
    for i in ints:
        g = math.gcd(g, abs(i))
    return lcm / g


def _weight_unit(w_int: np.ndarray) -> int | None:
    """The weight unit ``c`` (``w = c*q``, ``q`` in [-8, 7], ``c <= 31``), or None."""
    nz = np.abs(w_int[w_int != 0]).astype(np.int64)
    if nz.size == 0:
        return 1
    g = int(np.gcd.reduce(nz))
    for c in range(min(g, C_MAX), 0, -1):
        if g % c == 0 and Q_MIN * c <= w_int.min() and w_int.max() <= Q_MAX * c:
            return c
    return None


def _fits(w: np.ndarray, kthr: float, kbias: float, mode: str) -> bool:
    w_int = np.round(w)
    if _weight_unit(w_int) is None:
        return False
    alpha = kthr if mode == "subtract" else kthr + 1
    return 1 <= alpha <= hw.ALPHA_MAX and abs(kbias) <= hw.LEAK_MAX


def _approx_scale(row: np.ndarray, thr: float, bias: float, mode: str) -> tuple[float, int]:
    """Scale and weight unit for rounding ``row`` onto 16 levels: the largest weight maps to
    level 7 (or -8) of the finest unit ``c <= 31`` that keeps the threshold in range."""
    pos = float(row.max(initial=0.0))
    neg = float(-row.min(initial=0.0))
    for c in range(C_MAX, 0, -1):
        cands = [
            Q_MAX * c / pos if pos > 0 else math.inf,
            -Q_MIN * c / neg if neg > 0 else math.inf,
        ]
        k = min(cands)
        if not math.isfinite(k):
            k = c / abs(thr) if thr else 1.0
        alpha = round(k * thr) + (0 if mode == "subtract" else 1)
        if 1 <= alpha <= hw.ALPHA_MAX:
            return k, c
    raise FrontendError(
        f"NIR import: threshold {thr:g} cannot be placed in the cores' range for weights up "
        f"to {max(pos, neg):g}"
    )


def _quantize_rows(w: np.ndarray, scale: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Integer weights: ``round(k*w)`` for exactly scaled rows (unit 0), else ``c*q`` with
    ``q = round(k*w/c)`` clipped to [-8, 7]."""
    kw = w * scale[:, None]
    exact = np.round(kw)
    c = np.maximum(unit, 1)[:, None]
    q = np.clip(np.round(kw / c), Q_MIN, Q_MAX) * c
    return np.where(unit[:, None] == 0, exact, q).astype(np.int64)
