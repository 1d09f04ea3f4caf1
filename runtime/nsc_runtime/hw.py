"""The TrueNorth-class hardware model: the one definition of every hardware limit.

Everything else in nsc (passes, placement, binary format, runtime, training) imports these
numbers from here. Source: ``shared/reference/truenorth.md`` (Merolla 2014, Cassidy 2013,
Akopyan 2015).
"""

from __future__ import annotations

AXONS_PER_CORE = 256
NEURONS_PER_CORE = 256
AXON_TYPES = 4
CORES_PER_CHIP_SIDE = 64  # a chip is a 64 x 64 mesh of cores
CORES_PER_CHIP = CORES_PER_CHIP_SIDE * CORES_PER_CHIP_SIDE

WEIGHT_MIN, WEIGHT_MAX = -255, 255  # per-neuron axon-type weight s_j^G
LEAK_MIN, LEAK_MAX = -255, 255
ALPHA_MAX = (1 << 18) - 1  # positive threshold, 18-bit unsigned
BETA_MAX = (1 << 18) - 1  # negative threshold, 18-bit unsigned
TM_MAX = 8  # threshold mask bits: M = 2**TM - 1 applied to an 8-bit random number
V_MIN, V_MAX = -393_216, 393_215  # membrane potential is clamped to this range every tick
RESET_MIN, RESET_MAX = V_MIN, V_MAX
DELAY_MIN, DELAY_MAX = 1, 15
RING_SLOTS = 16  # per-axon ring buffer of pending spikes

# Reset modes (gamma)
RESET_NORMAL, RESET_LINEAR, RESET_NONE = 0, 1, 2

# Energy models (truenorth.md, "Energy and power")
CHIP_POWER_W = 0.070
STATIC_W_PER_CORE = 15.7e-6
JOULES_PER_SYNAPTIC_EVENT = 2.3e-12
TICK_SECONDS = 1e-3


def power_pro_rata_w(cores: int) -> float:
    """Model 1: each used core takes its pro-rata share of a 70 mW chip (17.1 uW/core)."""
    return cores * CHIP_POWER_W / CORES_PER_CHIP


def power_event_model_w(cores: int, synaptic_events: int, ticks: int) -> float:
    """Model 2: 15.7 uW static per used core + 2.3 pJ per synaptic event, in real time."""
    seconds = max(ticks, 1) * TICK_SECONDS
    return cores * STATIC_W_PER_CORE + synaptic_events * JOULES_PER_SYNAPTIC_EVENT / seconds
