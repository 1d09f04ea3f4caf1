"""The TREC demo: TREC-6's data, its GloVe table and its configs, the float Elman RNN trained
in plain PyTorch, and :func:`nsc.constrain` for the hardware-constrained network whose forward
pass is exactly the integer spiking protocol the compiled cores run.

Public API: :func:`load_data`, :data:`CONFIGS`, :class:`TrainConfig`, :func:`train`
(float -> constrained ladder), :func:`export_integer_params`, :func:`quantize_inputs`,
:func:`predict`, :func:`accuracy`, :func:`save_checkpoint`, :func:`load_checkpoint`.
"""

from __future__ import annotations

from .dataset import Encoded, TrecData, load_data
from .export import export_integer_params, quantize_inputs
from .float_model import FloatRNN
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
    "Encoded",
    "FloatRNN",
    "TrainConfig",
    "TrainResult",
    "TrecData",
    "accuracy",
    "export_integer_params",
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
