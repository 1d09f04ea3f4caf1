"""The compiler's defaults and accepted ranges, defined once (light: the CLI imports this at
start-up). Hardware facts are in :mod:`nsc_runtime.hw`; these are nsc's own choices."""

from __future__ import annotations

from nsc_runtime import hw

DEFAULT_LEVELS = 16
"""Activity and weight levels of the default pipeline (the seed paper's 16)."""
DEFAULT_MAX_FANIN = 64
"""Inputs per neuron of the default pipeline (the seed paper's crossbar budget)."""
MIN_LEVELS = 4
"""Fewest levels quantize accepts: weights then span -2..1."""
MAX_LEVELS = hw.DELAY_MAX + 1
"""Most levels: the window, levels - 1 ticks, must be one neuron-to-neuron delay."""
MAX_CHIPS_SIDE = 65_536
"""Rows and columns of chips one may declare, at most: mesh coordinates stay in int32 (the
placer lays out only the chips a network uses, so declaring many costs nothing)."""
