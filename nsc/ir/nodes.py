"""IR nodes: small typed dataclasses, one per operation, from trained network down to cores.

Every node has a ``name`` (unique in its graph, printed ``%name``), zero or more *operands*
(names of other nodes, the graph's edges), and *attributes*. The text printer and parser are
derived from the dataclass fields declared here (see :func:`operand` and :func:`attr`), so a
field is declared once. Each class docstring states the node's discrete-time equation.

Levels of the IR (one graph may mix them; passes move nodes down):

- network level (float, what a user trained): :class:`Input`, :class:`Linear`, :class:`ReLU`,
  :class:`ElmanRNN`, :class:`Output`;
- integer level: :class:`QLinear` (host side, closed form), :class:`Neurons` populations of
  TrueNorth-class neurons, :class:`Synapses` (integer weights), :class:`AxonSynapses` (weights
  encoded on axon types and crossbar bits), :class:`SpikeCount` (spikes per window);
- core level: :class:`Core` (256 axons x 256 neurons), :class:`CoreInput`, :class:`CoreOutput`.

Time: one *step* of a sequence (one word) is a *window* of ``W`` ticks (the graph attribute
``window``). A host activity ``a`` in ``[0, levels)`` for step ``t`` is sent as a burst: one
spike at each tick ``t*W + k`` for ``k < a``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from nsc_runtime import hw

from ..errors import InterpretError, IRVerifyError

# ---------------------------------------------------------------------------------------------
# field declarations (the printer/parser/equality derive from these)


NodeT = TypeVar("NodeT", bound="Node")


def operand(*, optional: bool = False) -> Any:
    """A reference to another node by name (an edge of the graph)."""
    default = None if optional else dataclasses.MISSING
    return field(default=default, metadata={"kind": "operand", "optional": optional})


def attr(kind: str, *, dtype: str | None = None, default: Any = dataclasses.MISSING) -> Any:
    """An attribute. ``kind`` is ``int``, ``float``, ``str`` or ``array`` (with ``dtype`` one
    of ``i8 i16 i32 i64 u8 bool f32 f64``); ``default=None`` makes an array optional."""
    return field(default=default, metadata={"kind": kind, "dtype": dtype})


NUMPY_DTYPES: dict[str, type] = {
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
    "u8": np.uint8,
    "bool": np.bool_,
    "f32": np.float32,
    "f64": np.float64,
}


def _cast(node: str, field_name: str, value: Any, dtype: str) -> np.ndarray:
    """``value`` as an array of ``dtype``; refuse values the cast would change."""
    target = NUMPY_DTYPES[dtype]
    original = np.asarray(value)
    cast: np.ndarray = original.astype(target, copy=False)
    if original.dtype != cast.dtype and original.size and dtype not in ("f32", "f64", "bool"):
        with np.errstate(invalid="ignore"):
            changed = cast.astype(np.float64) != original.astype(np.float64)
        if changed.any():
            bad = original.reshape(-1)[int(np.flatnonzero(changed.reshape(-1))[0])]
            raise IRVerifyError(node, f"{field_name} value {bad} does not fit {dtype}")
    return cast


LEVELS: tuple[str, ...] = (
    "network",  # float, as trained (frontend output)
    "integer",  # integer spiking network, delays not yet scheduled (quantize)
    "scheduled",  # delays aligned to the window (insert-delays)
    "fanin",  # every neuron's fan-in within the crossbar (split-fanin)
    "encoded",  # weights encoded on axon types (encode-weights)
    "placed",  # neurons on cores, cores on the mesh (place)
    "replicated",  # one destination per neuron (replicate-fanout)
    "core",  # 256 x 256 cores and their ports (lower-to-cores)
)
"""The IR levels, in pipeline order. A graph records its level (graph attribute ``level``);
each op declares the levels at which it may appear (``Node.level_range``) and each pass the level
it requires and the one it produces (nsc/passes/pipeline.py)."""

NODE_TYPES: dict[str, type[Node]] = {}
"""Every op by its text keyword, filled by :func:`register_op` (never edited by hand)."""


def register_op(cls: type[NodeT]) -> type[NodeT]:
    """Class decorator: declare an op (its keyword ``cls.op`` must be new)."""
    if not cls.op or cls.op in NODE_TYPES:
        raise TypeError(f"op keyword {cls.op!r} of {cls.__name__} is empty or already taken")
    lo, hi = cls.level_range
    if LEVELS.index(lo) > LEVELS.index(hi):
        raise TypeError(f"{cls.__name__}.level_range = {cls.level_range} is not in pipeline order")
    NODE_TYPES[cls.op] = cls
    return cls


def level_index(level: str) -> int:
    """Position of ``level`` in :data:`LEVELS` (raises ValueError for an unknown level)."""
    return LEVELS.index(level)


@dataclass(frozen=True)
class Span:
    """Where a node came from: ``path:line:col`` of its definition in a text file."""

    path: str | None
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path or '<string>'}:{self.line}:{self.col}"


@dataclass(eq=False)
class Node:
    """Base of every node. Subclasses set ``op`` (the text keyword), ``level_range`` (the first and
    last IR level at which the op may appear) and either implement :meth:`evaluate` (a
    step-level op, run by the interpreter one value per step) or set ``spiking = True`` (the op
    is part of the spiking region, simulated tick by tick)."""

    op: ClassVar[str] = ""
    level_range: ClassVar[tuple[str, str]] = ("network", "core")
    spiking: ClassVar[bool] = False
    name: str

    def __post_init__(self) -> None:
        self.span: Span | None = None
        for f in attribute_fields(type(self)):
            value = getattr(self, f.name)
            if f.metadata["kind"] == "array" and value is not None:
                setattr(self, f.name, _cast(self.name, f.name, value, f.metadata["dtype"]))

    # -- derived views --------------------------------------------------------------------
    def operands(self) -> list[str]:
        """Names of the nodes this node reads (present operands only)."""
        out = []
        for f in operand_fields(type(self)):
            value = getattr(self, f.name)
            if value is not None:
                out.append(value)
        return out

    def size(self, graph: Any) -> int:
        """Number of output channels (features, neurons, lines)."""
        raise NotImplementedError

    def verify(self, graph: Any) -> None:
        """Raise :class:`IRVerifyError` if this node breaks a rule. Operands exist already."""

    # -- declarations an op family may make (see nsc/ops and docs/contributing.md) --------
    torch_modules: ClassVar[tuple[str, ...]] = ()
    """Names of the ``torch.nn`` module classes this op converts (``from_torch``)."""
    torch_functions: ClassVar[tuple[str, ...]] = ()
    """Names of torch functions / tensor methods this op converts (``from_torch``)."""
    torch_aten: ClassVar[tuple[str, ...]] = ()
    """ATen operators of ``torch.export`` graphs this op converts (``from_aten``), such as
    ``aten.linear.default``; see nsc/frontend/torch_export.py."""
    is_activation: ClassVar[bool] = False
    """An elementwise ReLU-like activation: quantize fuses it into the spiking layer before."""

    @classmethod
    def from_torch(cls, module: Any, source: str, name: str, graph: Any) -> tuple[str, str]:
        """Add the nodes for a torch module (``None`` for a function call) that reads node
        ``source``; return ``(kind, output node)``, kind ``"seq"`` (a value per step) or
        ``"rnn"`` (an RNN's ``(output, h_n)`` pair). Raise FrontendError if unsupported."""
        raise NotImplementedError

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        """:meth:`from_torch` for a call of ATen operator ``target`` whose first argument is
        node ``source``; ``args`` holds the others by schema name (parameters as tensors)."""
        raise NotImplementedError

    def affine(self, graph: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(weight, bias)`` if this op is a float affine map per step (quantize folds or
        fuses it), else ``None``."""
        return None

    def recurrent(self, graph: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(w_in, w_rec, bias)`` if this op is a recurrent layer quantize maps onto one
        population of ReLU-like spiking units, else ``None``."""
        return None

    def lowest_level(self) -> str:
        """The first level this node, with its present field values, can belong to (a graph
        that does not record its level is at the highest of these)."""
        return self.level_range[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        """Step-level semantics: the value ``(batch, steps, size)`` from the operands' values
        (in operand order). Spiking ops and inputs are evaluated by the interpreter itself."""
        raise IRVerifyError(self.name, f"op {self.op!r} has no step-level semantics", self.span)

    def fail(self, rule: str) -> IRVerifyError:
        return IRVerifyError(self.name, rule, self.span)

    def same_as(self, other: object) -> bool:
        """Structural equality: same class and every field equal (arrays: dtype and values)."""
        if type(self) is not type(other):
            return False
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.dtype != b.dtype or a.shape != b.shape:
                    return False
                if not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                    return False
            elif a != b:
                return False
        return True

    def replace(self, **changes: Any) -> Node:
        """A copy with some fields changed; keeps the source span."""
        new = dataclasses.replace(self, **changes)
        new.span = self.span
        return new


def operand_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("kind") == "operand"]


def attribute_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [
        f
        for f in dataclasses.fields(cls)
        if f.metadata.get("kind") in ("int", "float", "str", "array")
    ]


def check_shape(node: Node, field_name: str, shape: tuple[int, ...]) -> None:
    value = getattr(node, field_name)
    if value is None:
        return
    if value.shape != shape:
        raise node.fail(f"{field_name} has shape {value.shape}, expected {shape}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise node.fail(f"{field_name} holds NaN or infinite values")


def check_range(node: Node, field_name: str, lo: int, hi: int) -> None:
    value = getattr(node, field_name)
    if value is None or value.size == 0:
        return
    bad = np.flatnonzero((value < lo) | (value > hi))
    if bad.size:
        i = int(bad[0])
        v = value.reshape(-1)[i]
        raise node.fail(f"{field_name}[{i}] = {v} is outside [{lo}, {hi}]")


# ---------------------------------------------------------------------------------------------
# network level


@register_op
@dataclass(eq=False)
class Input(Node):
    """External input: ``x[t] in R^size`` per step, or integer activities in ``[0, levels)``
    when ``levels > 0`` (then sent to cores as bursts of ``x[t]`` spikes per window)."""

    op: ClassVar[str] = "input"
    level_range: ClassVar[tuple[str, str]] = ("network", "core")
    features: int = attr("int")
    levels: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return self.features

    def verify(self, graph: Any) -> None:
        if self.features < 1:
            raise self.fail(f"features must be >= 1, got {self.features}")
        if self.levels < 0 or self.levels == 1:
            raise self.fail(f"levels must be 0 (float) or >= 2, got {self.levels}")


@register_op
@dataclass(eq=False)
class Output(Node):
    """A graph output: ``y[t] = x[t]`` for every step (the caller picks the last step)."""

    op: ClassVar[str] = "output"
    level_range: ClassVar[tuple[str, str]] = ("network", "core")
    source: str = operand()

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0]


# ---------------------------------------------------------------------------------------------
# integer level


@register_op
@dataclass(eq=False)
class QLinear(Node):
    """Integer affine map computed on the host (off-chip), exact:
    ``z[t] = weight @ x[t] + bias``; if ``levels > 0``: ``y[t] = clip(floor(z / divisor), 0,
    levels - 1)`` (a quantized ReLU), else ``y[t] = z`` (raw integer logits)."""

    op: ClassVar[str] = "qlinear"
    level_range: ClassVar[tuple[str, str]] = ("integer", "core")
    source: str = operand()
    weight: np.ndarray = attr("array", dtype="i32")
    bias: np.ndarray = attr("array", dtype="i32")
    divisor: int = attr("int", default=1)
    levels: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return int(self.weight.shape[0])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        if not np.all(np.equal(np.mod(x, 1), 0)):
            raise InterpretError(f"%{self.name} takes integer inputs")
        z = x.astype(np.int64) @ self.weight.T.astype(np.int64) + self.bias.astype(np.int64)
        if self.levels:
            return np.clip(np.floor_divide(z, self.divisor), 0, self.levels - 1)
        return z

    def verify(self, graph: Any) -> None:
        n_in = graph[self.source].size(graph)
        if self.weight.ndim != 2:
            raise self.fail(f"weight must be 2-D, got shape {self.weight.shape}")
        check_shape(self, "weight", (self.weight.shape[0], n_in))
        check_shape(self, "bias", (self.weight.shape[0],))
        if self.divisor < 1:
            raise self.fail(f"divisor must be >= 1, got {self.divisor}")
        if self.levels < 0 or self.levels == 1:
            raise self.fail(f"levels must be 0 (raw) or >= 2, got {self.levels}")


def _ranges(*names: str) -> dict[str, tuple[str, int, int]]:
    """``(IR dtype, min, max)`` per field, from the one range table of the hardware
    (``hw.NEURON_PARAM_RANGES``, which the runtime's validator uses too). The IR holds every
    signed field as i32 (the binary packs some narrower)."""
    out = {}
    for name in names:
        dtype, lo, hi = hw.NEURON_PARAM_RANGES[name]
        out[name] = ("u8" if dtype == "u8" else "i32", lo, hi)
    return out


NEURON_ARRAYS: dict[str, tuple[str, int, int]] = _ranges(
    "alpha",
    "leak",
    "beta",
    "kappa",
    "reset_mode",
    "reset",
    "v0",
    "tm",
    "leak_reversal",
    "stoch_leak",
    "stoch_synapse",
)
"""Per-neuron parameters of :class:`Neurons` and :class:`Core`: field -> (dtype, min, max)."""


@register_op
@dataclass(eq=False)
class Neurons(Node):
    """A population of ``count`` TrueNorth-class neurons. Per tick, for each neuron ``j``
    (truenorth.md; deterministic unless the stochastic flags are set):

    1. integrate ``V += sum of synaptic inputs due now`` (from :class:`Synapses` /
       :class:`AxonSynapses` whose target is this node);
    2. leak ``V += Omega * leak`` with ``Omega = 1 - e + e*sgn(V)``, ``e = leak_reversal``;
    3. threshold: if ``V >= alpha``: spike and reset (``reset_mode`` 0: ``V = reset``,
       1: ``V -= alpha``, 2: unchanged); elif ``V < -beta`` (``kappa=1``: ``V = -beta``;
       else mode 0: ``V = -reset``, 1: ``V += beta``, 2: unchanged);
    4. clamp ``V`` to the 20-bit register range. ``V`` starts at ``v0``.

    ``type_weights`` (``count x 4``, set by encode-weights) are the per-neuron weights of the 4
    axon types. ``core`` (set from a placement) is the core index of each neuron, -1 = unplaced.
    """

    op: ClassVar[str] = "neurons"
    level_range: ClassVar[tuple[str, str]] = ("integer", "replicated")
    spiking: ClassVar[bool] = True
    count: int = attr("int")
    alpha: np.ndarray = attr("array", dtype="i32")
    leak: np.ndarray = attr("array", dtype="i32")
    beta: np.ndarray = attr("array", dtype="i32")
    kappa: np.ndarray = attr("array", dtype="u8")
    reset_mode: np.ndarray = attr("array", dtype="u8")
    reset: np.ndarray = attr("array", dtype="i32")
    v0: np.ndarray = attr("array", dtype="i32")
    tm: np.ndarray = attr("array", dtype="u8")
    leak_reversal: np.ndarray = attr("array", dtype="u8")
    stoch_leak: np.ndarray = attr("array", dtype="u8")
    stoch_synapse: np.ndarray = attr("array", dtype="u8")
    type_weights: np.ndarray | None = attr("array", dtype="i32", default=None)
    core: np.ndarray | None = attr("array", dtype="i32", default=None)

    @classmethod
    def relu(cls, name: str, alpha: Any, leak: Any, floor: int = 0) -> Neurons:
        """The ReLU-like unit nsc uses: linear reset, leak as bias, saturating floor ``-floor``."""
        alpha = np.asarray(alpha, np.int32)
        n = int(alpha.shape[0])

        def full(v: int) -> np.ndarray:
            return np.full(n, v)

        return cls(
            name=name,
            count=n,
            alpha=alpha,
            leak=np.asarray(leak),
            beta=full(floor),
            kappa=full(1),
            reset_mode=full(hw.RESET_LINEAR),
            reset=full(0),
            v0=full(0),
            tm=full(0),
            leak_reversal=full(0),
            stoch_leak=full(0),
            stoch_synapse=full(0),
        )

    def lowest_level(self) -> str:
        return "placed" if self.core is not None else self.level_range[0]

    def size(self, graph: Any) -> int:
        return self.count

    def verify(self, graph: Any) -> None:
        if self.count < 1:
            raise self.fail(f"count must be >= 1, got {self.count}")
        for name, (_, lo, hi) in NEURON_ARRAYS.items():
            check_shape(self, name, (self.count,))
            check_range(self, name, lo, hi)
        check_shape(self, "type_weights", (self.count, hw.AXON_TYPES))
        check_range(self, "type_weights", hw.WEIGHT_MIN, hw.WEIGHT_MAX)
        check_shape(self, "core", (self.count,))


@register_op
@dataclass(eq=False)
class Synapses(Node):
    """Integer synapses ``source -> target``: a spike of source ``i`` at tick ``t`` adds
    ``weight[j, i]`` to target neuron ``j`` at tick ``t + delay[i]``. A host source
    (:class:`Input` with levels, :class:`QLinear` with levels) sends bursts; its delay may be 0."""

    op: ClassVar[str] = "synapses"
    level_range: ClassVar[tuple[str, str]] = ("integer", "fanin")
    spiking: ClassVar[bool] = True
    source: str = operand()
    target: str = operand()
    weight: np.ndarray = attr("array", dtype="i32")
    delay: np.ndarray = attr("array", dtype="i32")

    def size(self, graph: Any) -> int:
        return int(graph[self.target].size(graph))

    def verify(self, graph: Any) -> None:
        _verify_edge(self, graph)
        n_src, n_tgt = graph[self.source].size(graph), graph[self.target].size(graph)
        check_shape(self, "weight", (n_tgt, n_src))
        check_shape(self, "delay", (n_src,))
        _check_delay(self, graph)


@register_op
@dataclass(eq=False)
class AxonSynapses(Node):
    """Synapses encoded for the crossbar. Source neuron ``i`` drives the axons ``a`` with
    ``axon_source[a] == i``; axon ``a`` has type ``axon_type[a]``; a spike of ``i`` at tick
    ``t`` adds ``sum_a crossbar[j, a] * type_weights[j, axon_type[a]]`` to target neuron ``j``
    at tick ``t + delay[i]``. Equal, as a function, to :class:`Synapses` with that weight."""

    op: ClassVar[str] = "axon_synapses"
    level_range: ClassVar[tuple[str, str]] = ("encoded", "replicated")
    spiking: ClassVar[bool] = True
    source: str = operand()
    target: str = operand()
    axon_source: np.ndarray = attr("array", dtype="i32")
    axon_type: np.ndarray = attr("array", dtype="u8")
    crossbar: np.ndarray = attr("array", dtype="bool")
    delay: np.ndarray = attr("array", dtype="i32")

    def size(self, graph: Any) -> int:
        return int(graph[self.target].size(graph))

    def verify(self, graph: Any) -> None:
        _verify_edge(self, graph)
        n_src, n_tgt = graph[self.source].size(graph), graph[self.target].size(graph)
        n_ax = int(self.axon_source.shape[0]) if self.axon_source.ndim == 1 else -1
        if n_ax < 0:
            raise self.fail(f"axon_source must be 1-D, got shape {self.axon_source.shape}")
        check_shape(self, "axon_type", (n_ax,))
        check_shape(self, "crossbar", (n_tgt, n_ax))
        check_shape(self, "delay", (n_src,))
        check_range(self, "axon_source", 0, n_src - 1)
        check_range(self, "axon_type", 0, hw.AXON_TYPES - 1)
        _check_delay(self, graph)
        if graph[self.target].type_weights is None:
            raise self.fail(f"target %{self.target} has no type_weights (run encode-weights)")

    def weight(self, graph: Any) -> np.ndarray:
        """The equivalent integer weight matrix ``(n_target, n_source)``."""
        tw = graph[self.target].type_weights  # (n_tgt, 4)
        per_axon = self.crossbar * tw[:, self.axon_type]  # (n_tgt, n_ax)
        n_src = graph[self.source].size(graph)
        w = np.zeros((per_axon.shape[0], n_src), np.int64)
        np.add.at(w.T, self.axon_source, per_axon.T)
        return w


def _verify_edge(node: Synapses | AxonSynapses, graph: Any) -> None:
    if not isinstance(graph[node.target], Neurons):
        raise node.fail(f"target %{node.target} must be a neurons node")
    src = graph[node.source]
    if isinstance(src, Neurons):
        return
    if isinstance(src, (Input, QLinear)) and src.levels >= 2:
        return
    raise node.fail(
        f"source %{node.source} must be a neurons node or an integer host node "
        "(input or qlinear with levels >= 2)"
    )


def _check_delay(node: Synapses | AxonSynapses, graph: Any) -> None:
    lo = hw.DELAY_MIN if isinstance(graph[node.source], Neurons) else 0
    check_range(node, "delay", lo, hw.DELAY_MAX)


@register_op
@dataclass(eq=False)
class SpikeCount(Node):
    """Spikes of each ``source`` neuron counted per window, shifted by ``offset`` ticks:
    ``y[t, j] = sum_{k<W} s_j(t*W + offset + k)``."""

    op: ClassVar[str] = "spike_count"
    level_range: ClassVar[tuple[str, str]] = ("integer", "replicated")
    spiking: ClassVar[bool] = True
    source: str = operand()
    offset: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def verify(self, graph: Any) -> None:
        if not isinstance(graph[self.source], Neurons):
            raise self.fail(f"source %{self.source} must be a neurons node")
        if self.offset < 0:
            raise self.fail(f"offset must be >= 0, got {self.offset}")


@register_op
@dataclass(eq=False)
class CoreLayout(Node):
    """Where the cores of a placed graph sit on the mesh: core ``c`` (the number in the
    :class:`Neurons` ``core`` arrays) at ``positions[c] = (x, y)``; chips are
    ``CORES_PER_CHIP_SIDE`` cores square. Written by place, read by lower-to-cores; no dynamics
    (it belongs to the on-chip part of the graph, so it is listed with the spiking nodes)."""

    op: ClassVar[str] = "core_layout"
    level_range: ClassVar[tuple[str, str]] = ("placed", "replicated")
    spiking: ClassVar[bool] = True
    positions: np.ndarray = attr("array", dtype="i32")

    def size(self, graph: Any) -> int:
        return int(self.positions.shape[0])

    def verify(self, graph: Any) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != 2:
            raise self.fail(f"positions must have shape (cores, 2), got {self.positions.shape}")
        check_range(self, "positions", 0, 1 << 30)
        if np.unique(self.positions, axis=0).shape[0] != self.positions.shape[0]:
            raise self.fail("two cores share a mesh position")
        n = self.size(graph)
        for pop in graph.of_type(Neurons):
            if pop.core is not None and pop.core.size and int(pop.core.max()) >= n:
                raise self.fail(
                    f"%{pop.name} puts a neuron on core {int(pop.core.max())}, "
                    f"but the layout has {n} cores"
                )


# ---------------------------------------------------------------------------------------------
# core level


CORE_NEURON_ARRAYS: dict[str, tuple[str, int, int]] = {
    **NEURON_ARRAYS,
    **_ranges("dest_core", "dest_axon", "delay"),
}


@register_op
@dataclass(eq=False)
class Core(Node):
    """One core: 256 axons x 256 neurons. Axon ``a`` has type ``axon_types[a]``; neuron ``j``
    sees axon ``a`` iff ``crossbar[a, j]``; per-neuron parameters follow :class:`Neurons`
    (``weights`` = type weights, 256 x 4). Neuron ``j``'s spike at tick ``t`` reaches axon
    ``dest_axon[j]`` of core number ``dest_core[j]`` (-1: none) at ``t + delay[j]``. The core
    sits at mesh position ``(x, y)``; ``seed`` seeds its pseudo-random generator."""

    op: ClassVar[str] = "core"
    level_range: ClassVar[tuple[str, str]] = ("core", "core")
    spiking: ClassVar[bool] = True
    x: int = attr("int")
    y: int = attr("int")
    axon_types: np.ndarray = attr("array", dtype="u8")
    crossbar: np.ndarray = attr("array", dtype="bool")
    weights: np.ndarray = attr("array", dtype="i32")
    alpha: np.ndarray = attr("array", dtype="i32")
    leak: np.ndarray = attr("array", dtype="i32")
    beta: np.ndarray = attr("array", dtype="i32")
    kappa: np.ndarray = attr("array", dtype="u8")
    reset_mode: np.ndarray = attr("array", dtype="u8")
    reset: np.ndarray = attr("array", dtype="i32")
    v0: np.ndarray = attr("array", dtype="i32")
    tm: np.ndarray = attr("array", dtype="u8")
    leak_reversal: np.ndarray = attr("array", dtype="u8")
    stoch_leak: np.ndarray = attr("array", dtype="u8")
    stoch_synapse: np.ndarray = attr("array", dtype="u8")
    dest_core: np.ndarray = attr("array", dtype="i32")
    dest_axon: np.ndarray = attr("array", dtype="i32")
    delay: np.ndarray = attr("array", dtype="i32")
    seed: int = attr("int", default=1)

    def size(self, graph: Any) -> int:
        return hw.NEURONS_PER_CORE

    def verify(self, graph: Any) -> None:
        n, a = hw.NEURONS_PER_CORE, hw.AXONS_PER_CORE
        check_shape(self, "axon_types", (a,))
        check_range(self, "axon_types", 0, hw.AXON_TYPES - 1)
        check_shape(self, "crossbar", (a, n))
        check_shape(self, "weights", (n, hw.AXON_TYPES))
        check_range(self, "weights", hw.WEIGHT_MIN, hw.WEIGHT_MAX)
        for name, (_, lo, hi) in CORE_NEURON_ARRAYS.items():
            check_shape(self, name, (n,))
            check_range(self, name, lo, hi)
        if self.x < 0 or self.y < 0:
            raise self.fail(f"position ({self.x}, {self.y}) must be non-negative")


@register_op
@dataclass(eq=False)
class CoreInput(Node):
    """Host activities of ``source`` (an integer host node) sent into cores as bursts: for
    every row ``(k, core, axon)`` of ``lines``, activity ``x[t, k]`` puts one spike on that axon
    of that core (core number = position of the core node in the graph) at each tick
    ``t*W + delay + i``, ``i < x[t, k]``."""

    op: ClassVar[str] = "core_input"
    level_range: ClassVar[tuple[str, str]] = ("core", "core")
    spiking: ClassVar[bool] = True
    source: str = operand()
    lines: np.ndarray = attr("array", dtype="i32")
    delay: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def verify(self, graph: Any) -> None:
        if self.lines.ndim != 2 or self.lines.shape[1] != 3:
            raise self.fail(f"lines must have shape (m, 3), got {self.lines.shape}")
        check_range(self, "lines", 0, 1 << 30)
        if self.lines.size and int(self.lines[:, 0].max()) >= self.size(graph):
            raise self.fail(f"a line refers to feature >= {self.size(graph)}")
        _check_core_refs(self, graph, self.lines[:, 1:], hw.AXONS_PER_CORE, "axon")


@register_op
@dataclass(eq=False)
class CoreOutput(Node):
    """Spikes of neurons ``(core, neuron)`` = ``lines[k]`` counted per window, shifted by
    ``offset`` ticks: ``y[t, k] = sum_{i<W} s_k(t*W + offset + i)``."""

    op: ClassVar[str] = "core_output"
    level_range: ClassVar[tuple[str, str]] = ("core", "core")
    spiking: ClassVar[bool] = True
    lines: np.ndarray = attr("array", dtype="i32")
    offset: int = attr("int", default=0)

    def size(self, graph: Any) -> int:
        return int(self.lines.shape[0])

    def verify(self, graph: Any) -> None:
        if self.lines.ndim != 2 or self.lines.shape[1] != 2:
            raise self.fail(f"lines must have shape (n, 2), got {self.lines.shape}")
        check_range(self, "lines", 0, 1 << 30)
        if self.offset < 0:
            raise self.fail(f"offset must be >= 0, got {self.offset}")
        _check_core_refs(self, graph, self.lines, hw.NEURONS_PER_CORE, "neuron")


def _check_core_refs(node: Node, graph: Any, pairs: np.ndarray, limit: int, what: str) -> None:
    """Every (core, index) row must name an existing core and an index below ``limit``."""
    if pairs.size == 0:
        return
    n_cores = len(graph.cores())
    if int(pairs[:, 0].max()) >= n_cores:
        raise node.fail(f"a line refers to core {int(pairs[:, 0].max())}; the graph has {n_cores}")
    if int(pairs[:, 1].max()) >= limit:
        raise node.fail(f"a line refers to {what} {int(pairs[:, 1].max())} (cores have {limit})")
