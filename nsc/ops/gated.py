"""Gated recurrent op family: ``nn.GRU`` and ``nn.LSTM`` (network level) and their lowering to
the hardware-native gated unit (HGU) of docs/gated-units.md.

:class:`GRU` and :class:`LSTM` hold the float layers as trained (one node per layer; single
and multi-layer, ``batch_first`` either way; bidirectional layers and LSTM projections are
refused with the reason) and evaluate the float equations of torch. Quantize does not map them
onto ReLU-like units: it calls their :meth:`~GatedLayer.lower_spiking`, which emits, per hidden
unit ``j``, the HGU made of TrueNorth-class neurons on the burst code:

- a *keep gate* ``f_j`` and a *write unit* ``u_j``, ReLU-like units (linear reset, floor 0,
  leak as bias) driven by the layer input and by the unit's state spikes;
- a *state* neuron ``h_j``, a stateless per-tick logic neuron (weights ``u: 2, f: 1, h: 1``,
  leak ``-1``, threshold 1, reset to 0, floor 0) that fires at phase ``k`` of window ``t+1``
  iff ``u_j`` fired at phase ``k`` of window ``t``, or both ``f_j`` and ``h_j`` did:
  ``h[t+1, k] = u[t, k] or (f[t, k] and h[t, k])``;
- an output copy ``o_j`` of ``h_j`` (same inputs, same parameters, so the same spikes) in a
  population of its own, one feed-forward hop later, so that insert-delays, which counts a
  population ``d`` hops from the host ``d`` windows late, counts exactly the window in which
  ``h`` holds step ``t``'s state.

The integer model *is* this construction (exact by construction: compile -> verify agrees
1.0); how it relates to the float GRU/LSTM, and what the float parameters become, is stated in
docs/gated-units.md (a starting point for post-training quantization; training on the exact
per-tick function is the way to an accurate gated network).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nsc_runtime import hw

from ..errors import FrontendError
from ..ir.nodes import Neurons, Node, Synapses, attr, check_shape, operand, register_op
from .rnn import aten_recurrent_module, proj_size_error, torch_layers

# the state neuron: fires iff 2u + f + h >= 2, i.e. u or (f and h); stateless per tick
STATE_WEIGHT_U, STATE_WEIGHT_F, STATE_WEIGHT_H = 2, 1, 1
STATE_LEAK, STATE_ALPHA = -1, 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


@dataclass
class GateMaps:
    """Float pre-activations of the two HGU units, as affine maps of ``(x[t], h[t-1])``:
    the keep gate ``f ~ W * sigmoid(pre_keep)`` (in spikes per window) and the written value
    ``u ~ relu(pre_write)`` (in the state's float units)."""

    keep: tuple[np.ndarray, np.ndarray, np.ndarray]  # (w_x, w_h, bias)
    write: tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(eq=False)
class GatedLayer(Node):
    """Common part of the gated layers: ``gates`` stacked weight blocks of ``hidden`` rows,
    torch's layout (``w_ih``: ``gates*hidden x inputs``, ``w_hh``: ``gates*hidden x hidden``)."""

    gates: ClassVar[int] = 0
    source: str = operand()
    w_ih: np.ndarray = attr("array", dtype="f64")
    w_hh: np.ndarray = attr("array", dtype="f64")
    b_ih: np.ndarray | None = attr("array", dtype="f64", default=None)
    b_hh: np.ndarray | None = attr("array", dtype="f64", default=None)

    @property
    def hidden(self) -> int:
        return int(self.w_hh.shape[1]) if self.w_hh.ndim == 2 else 0

    def size(self, graph: Any) -> int:
        return self.hidden

    def verify(self, graph: Any) -> None:
        n_in = graph[self.source].size(graph)
        h = self.hidden
        if h < 1:
            raise self.fail(
                f"w_hh must be 2-D ({self.gates}*hidden, hidden), got {self.w_hh.shape}"
            )
        check_shape(self, "w_hh", (self.gates * h, h))
        check_shape(self, "w_ih", (self.gates * h, n_in))
        check_shape(self, "b_ih", (self.gates * h,))
        check_shape(self, "b_hh", (self.gates * h,))

    def _blocks(
        self,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Per gate (torch order): input weights, hidden weights, input bias, hidden bias."""
        h, g = self.hidden, self.gates
        zeros = np.zeros(g * h)
        b_ih = self.b_ih if self.b_ih is not None else zeros
        b_hh = self.b_hh if self.b_hh is not None else zeros
        rows = [slice(i * h, (i + 1) * h) for i in range(g)]
        return (
            [self.w_ih[r] for r in rows],
            [self.w_hh[r] for r in rows],
            [b_ih[r] for r in rows],
            [b_hh[r] for r in rows],
        )

    def gate_maps(self) -> GateMaps:
        """What the keep gate and the write unit start from (docs/gated-units.md)."""
        raise NotImplementedError

    # -- quantize's hook ----------------------------------------------------------------
    def lower_spiking(
        self,
        g: Any,
        source: str,
        s_in: float,
        s_out: float,
        levels: int,
        pre: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> str:
        """Add this layer's HGU populations and synapses to the integer graph ``g``, reading
        ``source`` (host activities or a population, one count = ``s_in`` float units), with
        one state spike per window = ``s_out`` float units; ``pre`` is an affine map quantize
        folded in before this layer. Return the population whose counts are the output."""
        maps = self.gate_maps()
        window = levels - 1
        keep_x, keep_h, keep_b = maps.keep
        write_x, write_h, write_b = maps.write
        if pre is not None:
            pw, pb = pre
            keep_x, keep_b = keep_x @ pw, keep_b + keep_x @ pb
            write_x, write_b = write_x @ pw, write_b + write_x @ pb
        # float -> spikes per window: keep ~ W * (1/2 + pre/4) (the sigmoid's tangent, clipped
        # at 0 and W by the unit itself); write ~ pre / s_out
        k = window / 4.0
        f_int = _unit(k * keep_x * s_in, k * keep_h * s_out, k * keep_b + window / 2.0, levels)
        u_int = _unit(write_x * s_in / s_out, write_h, write_b / s_out, levels)
        return add_hgu(g, self.name, source, f_int, u_int, self.span)


def add_hgu(
    g: Any,
    name: str,
    source: str,
    keep: IntUnit,
    write: IntUnit,
    span: Any = None,
    neuron_delay: int = hw.DELAY_MIN,
) -> str:
    """Add one layer of hardware-native gated units to the integer graph ``g``: population
    ``name`` (rows ``[f | u | h]``) reading ``source`` and itself, and the output copies
    ``name_h``, given the keep gates' and write units' integer parameters. Return the name of
    the copies' population (the layer's output; docs/gated-units.md). Synapses from neurons
    get ``neuron_delay`` (``DELAY_MIN`` before insert-delays; the window ``W`` in a graph
    built at level ``scheduled``), from the host delay 0."""
    f_int, u_int = keep, write
    h = int(f_int.w_h.shape[0])
    n = 3 * h
    f_rows, u_rows, h_rows = slice(0, h), slice(h, 2 * h), slice(2 * h, 3 * h)
    alpha = np.concatenate([f_int.alpha, u_int.alpha, np.full(h, STATE_ALPHA)])
    leak = np.concatenate([f_int.leak, u_int.leak, np.full(h, STATE_LEAK)])
    pop = Neurons.relu(name, alpha=alpha, leak=leak)
    mode = pop.reset_mode.copy()
    mode[h_rows] = hw.RESET_NORMAL
    pop = dataclasses.replace(pop, reset_mode=mode)
    pop.span = span
    g.add(pop)
    n_src = int(f_int.w_x.shape[1])
    w_in = np.zeros((n, n_src), np.int64)
    w_in[f_rows], w_in[u_rows] = f_int.w_x, u_int.w_x
    host = not isinstance(g[source], Neurons)
    syn = g.add(
        Synapses(
            g.fresh_name(f"{name}_in"),
            source=source,
            target=name,
            weight=w_in,
            delay=np.full(n_src, 0 if host else neuron_delay),
        )
    )
    syn.span = span
    w_rec = np.zeros((n, n), np.int64)
    w_rec[f_rows, h_rows], w_rec[u_rows, h_rows] = f_int.w_h, u_int.w_h
    w_rec[h_rows] = _state_inputs(h)
    rec = g.add(
        Synapses(
            g.fresh_name(f"{name}_rec"),
            source=name,
            target=name,
            weight=w_rec,
            delay=np.full(n, neuron_delay),
        )
    )
    rec.span = span
    out_name = g.fresh_name(f"{name}_h")
    out = Neurons.relu(out_name, alpha=np.full(h, STATE_ALPHA), leak=np.full(h, STATE_LEAK))
    out = dataclasses.replace(out, reset_mode=np.full(h, hw.RESET_NORMAL))
    out.span = span
    g.add(out)
    copy = g.add(
        Synapses(
            g.fresh_name(f"{out_name}_in"),
            source=name,
            target=out_name,
            weight=_state_inputs(h),
            delay=np.full(n, neuron_delay),
        )
    )
    copy.span = span
    return out_name


def is_hgu_population(g: Any, name: str) -> bool:
    """Whether population ``name`` of the integer graph ``g`` is a layer of hardware-native
    gated units as :func:`add_hgu` emits it (rows ``[f | u | h]``, the state rows reading
    ``[f, u, h]`` with the state weights): recognised from the synapses, so it survives
    printing and parsing."""
    pop = g[name]
    if not isinstance(pop, Neurons) or pop.count % 3:
        return False
    h = pop.count // 3
    for node in g:
        if isinstance(node, Synapses) and node.source == name and node.target == name:
            w = node.weight
            if w.shape == (3 * h, 3 * h) and np.array_equal(w[2 * h :], _state_inputs(h)):
                return True
    return False


def refuse_split(g: Any, name: str, fanin: int, limit: int) -> None:
    """split-fanin's hook: raise :class:`~nsc.errors.PassError` if population ``name`` is a
    gated layer, whose keep gates and write units cannot be split into a tree without
    changing the unit's timing (the tree delays them against the state neurons)."""
    from ..errors import PassError

    if not is_hgu_population(g, name):
        return
    raise PassError(
        f"split-fanin: %{name} is a layer of hardware-native gated units whose keep gates and "
        f"write units read {fanin} inputs (layer inputs + hidden units), more than max={limit}; "
        "split into a tree they would fire a tick later than the state neurons they gate, "
        "which changes the unit, so nsc refuses to split it. Keep inputs + hidden <= "
        f"{limit} (a smaller layer, or a Linear projection to fewer inputs before it), or "
        f"train the model with nsc.constrain(..., max_fanin={limit}), whose fan-in masks keep "
        "each unit's strongest inputs and compile exactly (docs/gated-units.md)"
    )


def _state_inputs(h: int) -> np.ndarray:
    """``(h, 3h)`` weights from ``[f, u, h]`` onto the state neurons (or their copies)."""
    eye = np.eye(h, dtype=np.int64)
    return np.concatenate([STATE_WEIGHT_F * eye, STATE_WEIGHT_U * eye, STATE_WEIGHT_H * eye], 1)


@dataclass
class IntUnit:
    """Integer parameters of ``n`` ReLU-like units of an HGU layer: input weights ``w_x``
    (``n x inputs``), weights ``w_h`` from the layer's states (``n x n``), ``alpha``, ``leak``."""

    w_x: np.ndarray
    w_h: np.ndarray
    alpha: np.ndarray
    leak: np.ndarray


def _unit(w_x: np.ndarray, w_h: np.ndarray, bias: np.ndarray, levels: int) -> IntUnit:
    """ReLU-like units computing about ``w_x @ cx + w_h @ ch + bias`` spikes per window (all in
    spike counts); per unit, the potential unit maps its largest weight to the top level."""
    window = levels - 1
    wmin, wmax = -(levels // 2), levels // 2 - 1
    top = np.maximum(np.abs(w_x).max(axis=1, initial=0.0), np.abs(w_h).max(axis=1, initial=0.0))
    unit = np.where(top > 0, top / wmax, 1.0)
    col = unit[:, None]
    return IntUnit(
        w_x=np.clip(np.rint(w_x / col), wmin, wmax).astype(np.int64),
        w_h=np.clip(np.rint(w_h / col), wmin, wmax).astype(np.int64),
        alpha=np.clip(np.rint(1.0 / unit), 1, hw.ALPHA_MAX).astype(np.int64),
        leak=np.clip(np.rint(bias / (unit * window)), hw.LEAK_MIN, hw.LEAK_MAX).astype(np.int64),
    )


@register_op
@dataclass(eq=False)
class GRU(GatedLayer):
    """GRU layer (torch's equations, gates in the order r, z, n), ``h[-1] = 0``:
    ``r = sigmoid(W_r x + b_ir + U_r h + b_hr)``, ``z = sigmoid(W_z x + b_iz + U_z h + b_hz)``,
    ``n = tanh(W_n x + b_in + r * (U_n h + b_hn))``, ``h[t] = (1 - z) * n + z * h[t-1]``.
    Lowered by quantize to the hardware-native gated unit (docs/gated-units.md)."""

    op: ClassVar[str] = "gru"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_modules: ClassVar[tuple[str, ...]] = ("GRU",)
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.gru.input",)
    gates: ClassVar[int] = 3

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        batch, steps, _ = x.shape
        (wr, wz, wn), (ur, uz, un), (bir, biz, bin_), (bhr, bhz, bhn) = self._blocks()
        h = np.zeros((batch, self.hidden))
        out = np.zeros((batch, steps, self.hidden))
        for t in range(steps):
            xt = x[:, t]
            r = _sigmoid(xt @ wr.T + bir + h @ ur.T + bhr)
            z = _sigmoid(xt @ wz.T + biz + h @ uz.T + bhz)
            n = np.tanh(xt @ wn.T + bin_ + r * (h @ un.T + bhn))
            h = (1.0 - z) * n + z * h
            out[:, t] = h
        return out

    def gate_maps(self) -> GateMaps:
        """keep = the update gate z; write = ``max(0, n - z)`` with ``z`` by its tangent
        ``1/2 + pre_z/4`` (a Lukasiewicz AND of the candidate and ``1 - z``; r taken as 1)."""
        (_, wz, wn), (_, uz, un), (_, biz, bin_), (_, bhz, bhn) = self._blocks()
        bz = biz + bhz
        return GateMaps(
            keep=(wz, uz, bz),
            write=(wn - wz / 4.0, un - uz / 4.0, bin_ + bhn - 0.5 - bz / 4.0),
        )

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        return _layers_from_torch(cls, module, source, name, graph)

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        """``aten.gru.input``: ``(input, hx, params, has_biases, num_layers, dropout, train,
        bidirectional, batch_first)``, ``params`` being ``w_ih, w_hh[, b_ih, b_hh]`` per layer
        (and direction); the initial state must be zero."""
        gru = aten_recurrent_module(args, name)
        return _layers_from_torch(cls, gru, source, name, graph, kind="GRU")


@register_op
@dataclass(eq=False)
class LSTM(GatedLayer):
    """LSTM layer (torch's equations, gates in the order i, f, g, o), ``h[-1] = c[-1] = 0``:
    ``i, f, o = sigmoid(W x + b_i + U h + b_h)`` (their blocks), ``g = tanh(...)``,
    ``c[t] = f * c[t-1] + i * g``, ``h[t] = o * tanh(c[t])``; the value is ``h``.
    Lowered by quantize to the hardware-native gated unit (docs/gated-units.md)."""

    op: ClassVar[str] = "lstm"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_modules: ClassVar[tuple[str, ...]] = ("LSTM",)
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.lstm.input",)
    gates: ClassVar[int] = 4

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        batch, steps, _ = x.shape
        (wi, wf, wg, wo), (ui, uf, ug, uo), bi, bh = self._blocks()
        b = [p + q for p, q in zip(bi, bh)]
        h = np.zeros((batch, self.hidden))
        c = np.zeros((batch, self.hidden))
        out = np.zeros((batch, steps, self.hidden))
        for t in range(steps):
            xt = x[:, t]
            i = _sigmoid(xt @ wi.T + h @ ui.T + b[0])
            f = _sigmoid(xt @ wf.T + h @ uf.T + b[1])
            gg = np.tanh(xt @ wg.T + h @ ug.T + b[2])
            o = _sigmoid(xt @ wo.T + h @ uo.T + b[3])
            c = f * c + i * gg
            h = o * np.tanh(c)
            out[:, t] = h
        return out

    def gate_maps(self) -> GateMaps:
        """keep = the forget gate f; write = ``max(0, g + i - 1)`` with ``i`` by its tangent
        (a Lukasiewicz AND of the cell input and the input gate); the state is the cell, read
        without the output gate."""
        (wi, wf, wg, _), (ui, uf, ug, _), bi, bh = self._blocks()
        b = [p + q for p, q in zip(bi, bh)]
        return GateMaps(
            keep=(wf, uf, b[1]),
            write=(wg + wi / 4.0, ug + ui / 4.0, b[2] + b[0] / 4.0 - 0.5),
        )

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        return _layers_from_torch(cls, module, source, name, graph)

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        """``aten.lstm.input``: ``(input, hx, params, has_biases, num_layers, dropout, train,
        bidirectional, batch_first)``, ``hx`` being ``[h0, c0]`` (both must be zero) and
        ``params`` ``w_ih, w_hh[, b_ih, b_hh][, w_hr]`` per layer and direction (``w_hr``:
        a projection, refused)."""
        hx = args["hx"] if args["hx"] is not None else []
        for what, state in zip(("h0", "c0"), hx):
            if state is not None and bool(state.detach().any()):
                raise FrontendError(
                    f"{name}: a nonzero initial state {what} is not supported (the spiking "
                    "network starts every sequence at rest, h0 = c0 = 0)"
                )
        per_layer = 4 if args["has_biases"] else 2
        copies = int(args["num_layers"]) * (2 if args["bidirectional"] else 1)
        if len(args["params"]) == (per_layer + 1) * copies:
            proj = int(args["params"][per_layer].shape[0])
            raise proj_size_error(name, "LSTM", proj)
        lstm = aten_recurrent_module({**args, "hx": None}, name)
        return _layers_from_torch(cls, lstm, source, name, graph, kind="LSTM")


def _layers_from_torch(
    cls: type[GatedLayer], module: Any, source: str, name: str, graph: Any, kind: str = ""
) -> tuple[str, str]:
    """One node per layer of a torch ``nn.GRU`` / ``nn.LSTM`` (or of a namespace holding the
    same attributes, ``kind`` naming it)."""
    src = source
    for layer_name, w_ih, w_hh, b_ih, b_hh in torch_layers(module, name, graph, kind):
        graph.add(cls(layer_name, source=src, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh))
        src = layer_name
    return "rnn", src


__all__ = [
    "GRU",
    "LSTM",
    "GateMaps",
    "GatedLayer",
    "IntUnit",
    "add_hgu",
    "is_hgu_population",
    "refuse_split",
]
