"""Op families of the source models, one module each, beside the spiking target ops of
:mod:`nsc.ir.nodes`.

An op family module declares its node classes (``@register_op`` dataclasses subclassing
:class:`nsc.ir.nodes.Node`): fields, ``level_range``, the equation in the docstring,
``verify``, ``size``, ``evaluate`` (step-level semantics for the interpreter), the torch
modules and functions it converts (``torch_modules``, ``torch_functions``, ``from_torch``)
and what quantize needs to lower it (``affine``, ``recurrent``, ``is_activation``). Importing
:mod:`nsc.ir` imports this package, so every op is known to the text format, the interpreter,
the torch frontend and quantize without editing anything central. See docs/contributing.md.
"""

from __future__ import annotations

from .. import ir as _ir  # noqa: F401  (the IR first: op modules build on it)
from . import dense, gated, host_input, membrane, rnn
from .dense import Linear, ReLU
from .gated import GRU, LSTM
from .membrane import Membrane
from .rnn import ElmanRNN

__all__ = [
    "GRU",
    "LSTM",
    "ElmanRNN",
    "Linear",
    "Membrane",
    "ReLU",
    "dense",
    "gated",
    "host_input",
    "membrane",
    "rnn",
]
