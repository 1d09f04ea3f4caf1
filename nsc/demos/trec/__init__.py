"""Training for the TREC demo: a float Elman RNN, then the hardware-constrained model whose
forward pass is exactly the integer spiking protocol the compiled cores run.

Public API: :func:`load_data`, :data:`CONFIGS`, :class:`TrainConfig`, :func:`train`
(float -> constrained ladder), :func:`export_integer_params`, :func:`quantize_inputs`,
:func:`integer_forward` (plain-numpy second implementation), :func:`predict`,
:func:`accuracy`, :func:`save_checkpoint`, :func:`load_checkpoint`.
"""

from __future__ import annotations

from .constrained import ConstrainedRNN
from .dataset import Encoded, TrecData, load_data
from .float_model import FloatRNN
from .integer import export_integer_params, integer_forward, quantize_inputs
from .trainer import (
    CONFIGS,
    TrainConfig,
    TrainResult,
    accuracy,
    load_checkpoint,
    predict,
    save_checkpoint,
    set_seed,
    train,
    train_constrained,
    train_float,
    with_overrides,
)

__all__ = [
    "CONFIGS",
    "ConstrainedRNN",
    "Encoded",
    "FloatRNN",
    "TrainConfig",
    "TrainResult",
    "TrecData",
    "accuracy",
    "export_integer_params",
    "integer_forward",
    "load_checkpoint",
    "load_data",
    "predict",
    "quantize_inputs",
    "save_checkpoint",
    "set_seed",
    "train",
    "train_constrained",
    "train_float",
    "with_overrides",
]
