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
    """Every neuron's weight unit (see :func:`units`), from the non-zero weights only: work
    and memory grow with the synapses, not with the dense matrices' cells."""
    nonzero = [np.nonzero(s.weight) for s in incoming]
    rows = [j for j, _ in nonzero]
    vals = [s.weight[j, i] for s, (j, i) in zip(incoming, nonzero, strict=True)]
    columns = sum(int(s.weight.shape[1]) for s in incoming)
    unit, bad = units(pop.count, rows, vals, columns)
    if bad is not None:
        j, low, high = bad
        raise pop.fail(
            f"neuron {j}'s weights in [{low}, {high}] are not c*q with q in [{Q_MIN}, {Q_MAX}] "
            f"and 8c <= {hw.WEIGHT_MAX} for any c: they need more than 16 levels on 4 "
            "axon types; quantize to levels <= 16 first"
        )
    return unit


def units(
    count: int, rows: list[np.ndarray], vals: list[np.ndarray], columns: int
) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The weight unit ``c`` of each of ``count`` neurons given their non-zero weights
    (``vals`` of target neurons ``rows``, over ``columns`` inputs in all): the largest divisor
    ``c <= 31`` of the gcd of the neuron's weights with every weight ``c*q``, ``q`` in
    ``[-8, 7]`` (fewest bits set, so fewest axons). Also ``(neuron, lowest, highest weight)``
    of the first neuron that has no such unit, or None."""
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    val = np.concatenate(vals).astype(np.int64) if vals else np.zeros(0, np.int64)
    order = np.argsort(row, kind="stable")
    row, val = row[order], val[order]
    nnz = np.bincount(row, minlength=count)
    has = nnz > 0
    starts = (np.cumsum(nnz) - nnz)[has]
    gcd = np.ones(count, np.int64)
    lo = np.zeros(count, np.int64)  # extremes with 0 included, as the dense row has zeros
    hi = np.zeros(count, np.int64)
    if val.size:
        gcd[has] = np.gcd.reduceat(np.abs(val), starts)
        lo[has] = np.minimum(np.minimum.reduceat(val, starts), 0)
        hi[has] = np.maximum(np.maximum.reduceat(val, starts), 0)
    unit = np.zeros(count, np.int64)
    for c in range(min(hw.WEIGHT_MAX // 8, int(gcd.max(initial=1))), 0, -1):  # largest wins
        fits = (unit == 0) & (c <= gcd) & (gcd % c == 0) & (Q_MIN * c <= lo) & (hi <= Q_MAX * c)
        unit[fits] = c
    bad = np.flatnonzero(unit == 0)
    if bad.size == 0:
        return unit, None
    j = int(bad[0])
    mine = val[row == j]
    full = nnz[j] == columns  # no zero in the row: its extremes are its weights'
    low, high = (int(mine.min()), int(mine.max())) if full else (int(lo[j]), int(hi[j]))
    return unit, (j, low, high)


def axon_bits(
    j: np.ndarray, i: np.ndarray, w: np.ndarray, unit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For non-zero weights ``w`` of target ``j`` from source ``i``: the (target, axon key
    ``i * 4 + type``) pairs of the crossbar bits, one per type bit of ``q = w / unit``."""
    q = (w.astype(np.int64) // unit[j]) & 15  # 4-bit two's complement
    bits = (q[:, None] >> np.arange(4)) & 1  # (entries, 4)
    e, t = np.nonzero(bits)
    return j[e], i[e].astype(np.int64) * 4 + t


def _encode(s: Synapses, unit: np.ndarray) -> AxonSynapses:
    """The axons ``(source, type)`` in source then type order, one per pair that some target
    listens to, and the crossbar bits; built from the non-zero weights only."""
    j, i = np.nonzero(s.weight)
    rows, key = axon_bits(j, i, s.weight[j, i], unit)
    axons, column = np.unique(key, return_inverse=True)
    n_tgt = s.weight.shape[0]
    crossbar = np.zeros((n_tgt, axons.size), bool)
    crossbar[rows, column.reshape(-1)] = True
    node = AxonSynapses(
        s.name,
        source=s.source,
        target=s.target,
        axon_source=(axons // 4).astype(np.int32),
        axon_type=(axons % 4).astype(np.uint8),
        crossbar=crossbar,
        delay=s.delay,
    )
    node.span = s.span
    return node
