"""Train-and-constrain for any model and data: ``nsc.constrain``.

A float PyTorch model (ReLU or tanh Elman RNNs, stacked; host Linear layers before; a Linear
readout on the last step or every step; an ``nn.Embedding`` first) becomes a
:class:`ConstrainedNet` whose forward pass is exactly the integer function the compiled cores
and their host compute, fine-tuned on the user's data with straight-through and surrogate
gradients. See docs/training.md.
"""

from __future__ import annotations

from .data import DataError, SeqData, as_seqdata
from .fit import ConstrainSummary, accuracy, constrain, estimate_cores, predict
from .masks import group_mask
from .model import WHAT_RUNS_WHERE, ConstrainedNet, LayerSpec, NetSpec, simulate_population
from .reference import reference_logits

__all__ = [
    "WHAT_RUNS_WHERE",
    "ConstrainSummary",
    "ConstrainedNet",
    "DataError",
    "LayerSpec",
    "NetSpec",
    "SeqData",
    "accuracy",
    "as_seqdata",
    "constrain",
    "estimate_cores",
    "group_mask",
    "predict",
    "reference_logits",
    "simulate_population",
]
