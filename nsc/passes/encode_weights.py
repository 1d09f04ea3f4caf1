"""encode-weights: integer weights -> axon types and binary crossbar bits.

Before: :class:`Synapses` with integer weights. After: every :class:`Synapses` is an
:class:`AxonSynapses` and every target :class:`Neurons` has ``type_weights``.

Encoding: neuron ``j`` gets type weights ``(c, 2c, 4c, -8c)`` where ``c`` (its weight unit) is
the largest divisor of the gcd of its incoming weights with ``8c <= 255`` that fits them; each
weight ``w = c*q`` with ``q`` in ``[-8, 7]`` is the 4-bit two's complement of ``q``: bit ``t``
of ``q & 15`` set means "listen to the type-``t`` axon of this source". So source ``i`` of a
synapse node needs one axon per type ``t`` that any target uses, at most 4 axons per source.
The equivalent weight matrix is unchanged: the reference interpreter gives identical results
before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from ..ir import AxonSynapses, Graph, Neurons, Synapses
from .pipeline import Context, Pass, register

TYPE_WEIGHTS = np.array([1, 2, 4, -8])  # type t contributes TYPE_WEIGHTS[t] * c
Q_MIN, Q_MAX = -8, 7


@register
@dataclass(frozen=True)
class EncodeWeights(Pass):
    """Encode every synapse group's weights on 4 axon types + crossbar bits."""

    name = "encode-weights"
    requires = "integer"
    produces = "encoded"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        g = graph.copy()
        groups = g.of_type(Synapses)
        by_target: dict[str, list[Synapses]] = {}
        for s in groups:
            by_target.setdefault(s.target, []).append(s)
        for target, incoming in by_target.items():
            pop = g[target]
            assert isinstance(pop, Neurons)
            if pop.type_weights is not None:
                raise pop.fail(
                    "already has type_weights but still receives unencoded synapses "
                    f"({', '.join('%' + s.name for s in incoming)})"
                )
            unit = _units(pop, incoming)
            g.nodes[target] = pop.replace(type_weights=unit[:, None] * TYPE_WEIGHTS[None, :])
            for s in incoming:
                g.nodes[s.name] = _encode(s, unit)
        return g


def _units(pop: Neurons, incoming: list[Synapses]) -> np.ndarray:
    weights = np.concatenate([s.weight for s in incoming], axis=1).astype(np.int64)
    unit = np.ones(pop.count, np.int64)
    for j in range(pop.count):
        row = weights[j]
        c = _unit(row)
        if c is None:
            lo, hi = int(row.min()), int(row.max())
            raise pop.fail(
                f"neuron {j}'s weights in [{lo}, {hi}] are not c*q with q in [{Q_MIN}, {Q_MAX}] "
                f"and 8c <= {hw.WEIGHT_MAX} for any c: they need more than 16 levels on 4 "
                "axon types; quantize to levels <= 16 first"
            )
        unit[j] = c
    return unit


def _unit(row: np.ndarray) -> int | None:
    """The largest weight unit ``c`` that encodes every weight of ``row`` (fewest bits set,
    so fewest axons), or None."""
    g = int(np.gcd.reduce(np.abs(row))) if row.any() else 1
    for c in range(min(g, hw.WEIGHT_MAX // 8), 0, -1):
        if g % c == 0 and Q_MIN * c <= row.min(initial=0) and row.max(initial=0) <= Q_MAX * c:
            return c
    return None


def _encode(s: Synapses, unit: np.ndarray) -> AxonSynapses:
    q = (s.weight.astype(np.int64) // unit[:, None]) & 15  # 4-bit two's complement
    axon_source, axon_type, columns = [], [], []
    for i in range(q.shape[1]):
        for t in range(4):
            bits = (q[:, i] >> t) & 1
            if bits.any():
                axon_source.append(i)
                axon_type.append(t)
                columns.append(bits.astype(bool))
    n_tgt = q.shape[0]
    crossbar = np.stack(columns, axis=1) if columns else np.zeros((n_tgt, 0), bool)
    node = AxonSynapses(
        s.name,
        source=s.source,
        target=s.target,
        axon_source=np.asarray(axon_source, np.int32),
        axon_type=np.asarray(axon_type, np.uint8),
        crossbar=crossbar,
        delay=s.delay,
    )
    node.span = s.span
    return node
