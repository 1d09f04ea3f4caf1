"""Compare an imported NIR network, run by nsc, with another simulator's spike trains.

:func:`population_spikes` gives the spikes of every imported population per NIR step (the
population's lag removed, so step ``t`` of nsc is step ``t`` of the peer); :func:`compare` says
per layer whether the trains are identical, the correlation of per-neuron spike counts and the
fraction of (input, step, neuron) entries that agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NscError
from ..ir import Graph
from ..ir.interpret import run_trace
from .importer import ImportReport


@dataclass
class LayerAgreement:
    """How one population's spikes in nsc compare with a peer's."""

    identical: bool
    spike_count_correlation: float | None  # None when either side's counts are constant
    agreement: float  # fraction of equal (input, step, neuron) entries
    spikes_nsc: int
    spikes_peer: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def population_spikes(graph: Graph, report: ImportReport, x: np.ndarray) -> dict[str, np.ndarray]:
    """``{NIR node name: (batch, steps, neurons) 0/1}`` for every imported population, from the
    reference interpreter, aligned to NIR steps (each population acts at tick
    ``t*window + lag``)."""
    x = np.asarray(x)
    steps = x.shape[1]
    # run long enough for the deepest population to finish the last step
    pad = max(report.lags.values(), default=0)
    padded = np.concatenate([x, np.zeros((x.shape[0], pad, x.shape[2]), x.dtype)], axis=1)
    trace = run_trace(graph, padded, keep_spikes=True)
    assert trace.spikes is not None
    out = {}
    for nir_name, nsc_name in report.names.items():
        if nsc_name not in report.lags:
            continue
        lo, hi = trace.neuron_index[nsc_name]
        lag, w = report.lags[nsc_name], report.window
        ticks = slice(lag, lag + steps * w, w)  # the population acts at t*window + lag
        out[nir_name] = trace.spikes[:, ticks, lo:hi].astype(np.int64)
    return out


def compare(ours: np.ndarray, theirs: np.ndarray) -> LayerAgreement:
    """Spike trains ``(batch, steps, neurons)`` of nsc vs a peer."""
    a, b = np.asarray(ours).astype(np.int64), np.asarray(theirs).astype(np.int64)
    if a.shape != b.shape:
        raise NscError(f"spike trains differ in shape: nsc {a.shape}, peer {b.shape}")
    ca, cb = a.sum(axis=1).reshape(-1), b.sum(axis=1).reshape(-1)
    corr = None
    if ca.std() > 0 and cb.std() > 0:
        corr = float(np.corrcoef(ca, cb)[0, 1])
    elif np.array_equal(ca, cb):
        corr = 1.0
    return LayerAgreement(
        identical=bool(np.array_equal(a, b)),
        spike_count_correlation=corr,
        agreement=float((a == b).mean()) if a.size else 1.0,
        spikes_nsc=int(a.sum()),
        spikes_peer=int(b.sum()),
    )
