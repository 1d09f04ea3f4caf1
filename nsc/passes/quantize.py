"""quantize: float network -> integer spiking network (the one lossy step; see docs/conversion.md).

Before: a chain ``input -> (linear [relu] | rnn [relu])* -> [linear] -> output`` of float
network-level nodes. After: the input takes integer activities in ``[0, levels)``; every
``linear+relu`` and every ``rnn`` is a :class:`Neurons` population of ReLU-like spiking units
(linear reset, floor at 0, leak as bias) fed by :class:`Synapses` with weights in
``[-(levels//2), levels//2 - 1]``; a trailing ``linear`` (the readout) becomes a host
:class:`QLinear` on the last population's :class:`SpikeCount`. Graph attributes ``levels`` and
``window = levels - 1`` are set, and ``output_scale`` (a float as a string): the float model's
output is about the integer output times it. Delays are placeholders until insert-delays.

Scales: activities are calibrated on ``ctx.example_input`` (the float model's inputs are taken
to be in activity units already); per layer the potential unit ``u`` maps the largest float
weight contribution to the top weight level; the threshold ``alpha = s_out / u`` and the
per-tick leak ``bias / (u * window)`` follow.

An op that declares ``lower_spiking(g, source, s_in, s_out, levels, pre)`` (the gated layers of
nsc/ops/gated.py) is lowered by that method instead: it adds its own populations and synapses
to the integer graph and returns the population whose spike counts are its output.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsc_runtime import hw

from ..defaults import DEFAULT_LEVELS, MAX_LEVELS, MIN_LEVELS
from ..errors import FidelityWarning, PassError
from ..ir import (
    Graph,
    Input,
    Neurons,
    Node,
    Output,
    QLinear,
    SpikeCount,
    Synapses,
)
from ..ir.interpret import run_trace
from .pipeline import Context, Pass, register


@dataclass
class _Layer:
    """One spiking layer in float terms before quantization."""

    name: str
    w_in: np.ndarray
    w_rec: np.ndarray | None
    bias: np.ndarray
    out_node: str  # the float node whose values calibrate this layer's output scale
    span: Any
    lowering: Node | None = None  # an op lowered by its own ``lower_spiking``
    pre: tuple[np.ndarray, np.ndarray] | None = None  # an affine map folded in before it


@register
@dataclass(frozen=True)
class Quantize(Pass):
    """Float network -> integer spiking network with ``levels`` activity and weight levels."""

    name = "quantize"
    requires = "network"
    produces = "integer"
    levels: int = DEFAULT_LEVELS

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        if not MIN_LEVELS <= self.levels <= MAX_LEVELS:
            raise PassError(
                f"quantize: levels must be in [{MIN_LEVELS}, {MAX_LEVELS}] (a window of "
                f"levels-1 <= {hw.DELAY_MAX} ticks carries one activity; weights need at least "
                f"levels -2..1), got {self.levels}"
            )
        inputs = graph.of_type(Input)
        outputs = graph.of_type(Output)
        if len(inputs) != 1 or len(outputs) != 1:
            raise PassError("quantize: the network must have exactly one input and one output")
        if not any(
            n.affine(graph) is not None or n.recurrent(graph) is not None or _lowers_itself(n)
            for n in graph
        ):
            raise PassError("quantize: nothing to quantize (no affine or recurrent op)")
        chain = _chain(graph, inputs[0], outputs[0])
        layers, readout = _layers(graph, chain)
        scales = _calibrate(graph, ctx, layers, self.levels)
        return _build(graph, inputs[0], outputs[0], layers, readout, scales, self.levels)


def _lowers_itself(node: Node) -> bool:
    """Whether ``node`` declares its own spiking lowering (``lower_spiking``)."""
    return callable(getattr(node, "lower_spiking", None))


def _chain(graph: Graph, start: Input, end: Output) -> list[Any]:
    chain: list[Any] = []
    node: Any = end
    while not isinstance(node, Input):
        chain.append(node)
        if len(graph.users(node.source)) != 1:
            raise PassError(
                f"quantize: %{node.source} feeds several nodes; only chains are supported"
            )
        node = graph[node.source]
    if node is not start:
        raise PassError("quantize: the output is not reached from the input")
    return chain[::-1][:-1]  # drop the Output


@dataclass
class _Readout:
    """The trailing affine map, kept on the host as a :class:`QLinear`."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    span: Any


def _layers(graph: Graph, chain: list[Node]) -> tuple[list[_Layer], _Readout | None]:
    """Group the chain into spiking layers by what each op declares (``recurrent``,
    ``affine``, ``is_activation``): a recurrent op, or an affine op followed by an activation,
    is a spiking layer (a following activation is fused into it); an affine op before a layer
    is folded into that layer; the last affine op is the host readout."""
    layers: list[_Layer] = []
    pending: tuple[np.ndarray, np.ndarray] | None = None  # an affine map awaiting a consumer
    readout: _Readout | None = None
    i = 0
    while i < len(chain):
        node = chain[i]
        nxt = chain[i + 1] if i + 1 < len(chain) else None
        fused = nxt is not None and nxt.is_activation
        recurrent, affine = node.recurrent(graph), node.affine(graph)
        if _lowers_itself(node):
            empty = np.zeros((0, 0))
            layers.append(
                _Layer(node.name, empty, None, empty, node.name, node.span, node, pending)
            )
            pending = None
            i += 1
        elif recurrent is not None:
            w_in, w_rec, bias = recurrent
            if pending is not None:
                w_in, bias = w_in @ pending[0], bias + w_in @ pending[1]
                pending = None
            layers.append(_Layer(node.name, w_in, w_rec, bias, node.name, node.span))
            i += 2 if fused else 1
        elif affine is not None:
            w, b = affine
            if pending is not None:
                w, b = w @ pending[0], b + w @ pending[1]
                pending = None
            if fused:
                assert nxt is not None
                layers.append(_Layer(node.name, w, None, b, nxt.name, node.span))
                i += 2
            elif nxt is None:
                readout = _Readout(node.name, w, b, node.span)
                i += 1
            else:
                pending = (w, b)
                i += 1
        elif node.is_activation:
            raise node.fail(f"a {node.op} must follow an affine or recurrent op to be quantized")
        else:
            raise node.fail(f"quantize does not support {node.op!r} nodes")
    if pending is not None:
        raise PassError("quantize: internal error, an affine map was left unconsumed")
    if not layers:
        raise PassError(
            "quantize: the network has no spiking layer (linear+relu or rnn); "
            "a lone linear readout needs no neuromorphic cores"
        )
    return layers, readout


def _bias(bias: np.ndarray | None, n: int) -> np.ndarray:
    return bias if bias is not None else np.zeros(n)


def _calibrate(graph: Graph, ctx: Context, layers: list[_Layer], levels: int) -> list[float]:
    """Per layer, the float value of one activity level (from the example input)."""
    if ctx.example_input is None:
        raise PassError("quantize needs an example input to calibrate activity scales")
    # a list holds batches of different sequence lengths (nsc.compile groups ragged inputs)
    given = ctx.example_input if isinstance(ctx.example_input, list) else [ctx.example_input]
    tops = np.zeros(len(layers))
    for batch in given:
        x = np.asarray(batch, np.float64)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
            raise PassError(
                "quantize: the example input must have shape (batch >= 1, steps >= 1, "
                f"features), got {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise PassError("quantize: the example input holds NaN or infinite values")
        _warn_unless_activities(x, levels)
        values = run_trace(graph, x).values
        for k, layer in enumerate(layers):
            tops[k] = max(tops[k], float(np.max(values[layer.out_node], initial=0.0)))
    return [float(top) / (levels - 1) if top > 0 else 1.0 for top in tops]


def _warn_unless_activities(x: np.ndarray, levels: int) -> None:
    """The quantized network takes integer activities in [0, levels) on its input lines; a
    float model trained on other inputs loses its accuracy silently unless told."""
    integral = bool(np.all(np.equal(np.mod(x, 1), 0)))
    if integral and x.min() >= 0 and x.max() <= levels - 1:
        return
    warnings.warn(
        f"quantize: the example inputs span [{x.min():.3g}, {x.max():.3g}]"
        f"{'' if integral else ' and are not integers'}, but the compiled network takes "
        f"integer activities in [0, {levels - 1}] per step, sent as spike bursts; inputs "
        "like these will be refused at run time and the float model's accuracy is not "
        "preserved. Scale and round your inputs to activities, or train with nsc.constrain, "
        "whose input quantizer does this on the host",
        FidelityWarning,
        stacklevel=2,
    )


def _build(
    graph: Graph,
    inp: Input,
    out: Output,
    layers: list[_Layer],
    readout: _Readout | None,
    scales: list[float],
    levels: int,
) -> Graph:
    window = levels - 1
    wmin, wmax = -(levels // 2), levels // 2 - 1
    g = Graph(graph.name, attrs={**graph.attrs, "levels": levels, "window": window})
    new_in = g.add(Input(inp.name, features=inp.features, levels=levels))
    new_in.span = inp.span
    source, s_in = inp.name, 1.0
    for layer, s_out in zip(layers, scales):
        if layer.lowering is not None:
            lowering: Any = layer.lowering  # declares lower_spiking (_lowers_itself)
            source = lowering.lower_spiking(g, source, s_in, s_out, levels, layer.pre)
            s_in = s_out
            continue
        contrib = [np.max(np.abs(layer.w_in), initial=0.0) * s_in]
        if layer.w_rec is not None:
            contrib.append(np.max(np.abs(layer.w_rec), initial=0.0) * s_out)
        unit = max(contrib) / wmax if max(contrib) > 0 else s_out
        w_in = np.clip(np.rint(layer.w_in * s_in / unit), wmin, wmax)
        alpha = np.full(layer.bias.shape[0], np.clip(round(s_out / unit), 1, hw.ALPHA_MAX))
        leak = np.clip(np.rint(layer.bias / (unit * window)), hw.LEAK_MIN, hw.LEAK_MAX)
        pop = g.add(Neurons.relu(layer.name, alpha=alpha, leak=leak))
        pop.span = layer.span
        n_src = w_in.shape[1]
        host = not isinstance(g[source], Neurons)
        syn = g.add(
            Synapses(
                g.fresh_name(f"{layer.name}_in"),
                source=source,
                target=layer.name,
                weight=w_in,
                delay=np.full(n_src, 0 if host else hw.DELAY_MIN),
            )
        )
        syn.span = layer.span
        if layer.w_rec is not None:
            w_rec = np.clip(np.rint(layer.w_rec * s_out / unit), wmin, wmax)
            rec = g.add(
                Synapses(
                    g.fresh_name(f"{layer.name}_rec"),
                    source=layer.name,
                    target=layer.name,
                    weight=w_rec,
                    delay=np.full(w_rec.shape[0], hw.DELAY_MIN),
                )
            )
            rec.span = layer.span
        source, s_in = layer.name, s_out
    count = g.add(SpikeCount(g.fresh_name(f"{source}_count"), source=source))
    final = count.name
    output_scale = s_in  # a spike count of the last layer: float value / count
    if readout is not None:
        w = readout.weight * s_in
        top = float(np.max(np.abs(w), initial=0.0))
        scale = 127.0 / top if top > 0 else 1.0
        q = g.add(
            QLinear(
                readout.name,
                source=count.name,
                weight=np.rint(w * scale),
                bias=np.rint(readout.bias * scale),
            )
        )
        q.span = readout.span
        final = q.name
        output_scale = 1.0 / scale
    # float output ~= integer output * output_scale (nsc.io.output_scale reads it back)
    g.attrs["output_scale"] = repr(float(output_scale))
    o = g.add(Output(out.name, source=final))
    o.span = out.span
    return g
