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
# Positive threshold alpha: 18-bit unsigned (truenorth.md, "alpha/beta are 18-bit"; "alpha
# (positive threshold, unsigned)"), so 0 is a legal hardware value: with alpha = 0 (and no
# threshold mask) a neuron fires in every tick in which V >= 0 after the leak. The compiler's
# ReLU neurons use alpha >= 1, but that is a choice of the compiler, not a hardware limit.
ALPHA_MIN = 0
ALPHA_MAX = (1 << 18) - 1  # positive threshold, 18-bit unsigned
BETA_MAX = (1 << 18) - 1  # negative threshold, 18-bit unsigned
TM_MAX = 8  # threshold mask bits: M = 2**TM - 1 applied to an 8-bit random number
V_MIN, V_MAX = -393_216, 393_215  # membrane potential is clamped to this range every tick
RESET_MIN, RESET_MAX = V_MIN, V_MAX
DELAY_MIN, DELAY_MAX = 1, 15
RING_SLOTS = 16  # per-axon ring buffer of pending spikes
NO_DEST = -1  # dest_core of a neuron without an on-chip destination

# Reset modes (gamma)
RESET_NORMAL, RESET_LINEAR, RESET_NONE = 0, 1, 2

# The one parameter-range table: name -> (storage dtype in a corelet, min, max) for every
# per-neuron field, in the order of the corelet file's CORE section (``NEURON_FIELDS`` in
# nsc_runtime/corelet.py derives its dtypes and order from it; the IR verifier and the
# runtime's validator read their ranges from it). Two ranges depend on the corelet:
# ``dest_core`` is -1 (no destination) or 0..C-1, and ``delay`` is only checked (1..15) where
# ``dest_core`` != -1 (it may hold any u8 value otherwise).
NEURON_PARAM_RANGES: dict[str, tuple[str, int, int]] = {
    "weights": ("i16", WEIGHT_MIN, WEIGHT_MAX),  # s_j^G, 4 per neuron (one per axon type)
    "stoch_synapse": ("u8", 0, (1 << AXON_TYPES) - 1),  # b_j^G, bit G = axon type G
    "leak": ("i16", LEAK_MIN, LEAK_MAX),  # lambda
    "stoch_leak": ("u8", 0, 1),  # c_lambda
    "leak_reversal": ("u8", 0, 1),  # epsilon
    "alpha": ("i32", ALPHA_MIN, ALPHA_MAX),
    "beta": ("i32", 0, BETA_MAX),
    "tm": ("u8", 0, TM_MAX),
    "reset_mode": ("u8", RESET_NORMAL, RESET_NONE),  # gamma
    "kappa": ("u8", 0, 1),
    "reset": ("i32", RESET_MIN, RESET_MAX),  # R
    "v0": ("i32", V_MIN, V_MAX),
    "dest_core": ("i32", NO_DEST, (1 << 31) - 1),  # upper bound: C - 1 for a C-core corelet
    "dest_axon": ("i16", 0, AXONS_PER_CORE - 1),
    "delay": ("u8", DELAY_MIN, DELAY_MAX),  # where dest_core != -1
}

# Energy models (truenorth.md, "Energy and power")
CHIP_POWER_W = 0.070
STATIC_W_PER_CORE = 15.7e-6
JOULES_PER_SYNAPTIC_EVENT = 2.3e-12
TICK_SECONDS = 1e-3
# Inter-chip links (performance-anchors.md, "Per-component": 2 pJ/bit off-chip, Merolla 2014
# Suppl. S5 via a secondary source [S]). The bits per inter-chip spike packet are an
# ASSUMPTION of this project (no source gives them): 32, room for a relative (dx, dy) core
# address of 9 bits each, an 8-bit axon and a 4-bit delivery tick, rounded up to a word.
JOULES_PER_OFF_CHIP_BIT = 2e-12
SPIKE_PACKET_BITS = 32


def power_pro_rata_w(cores: int) -> float:
    """Model 1: each used core takes its pro-rata share of a 70 mW chip (17.1 uW/core)."""
    return cores * CHIP_POWER_W / CORES_PER_CHIP


def power_event_model_w(cores: int, synaptic_events: int, ticks: int) -> float:
    """Model 2: 15.7 uW static per used core + 2.3 pJ per synaptic event, in real time."""
    seconds = max(ticks, 1) * TICK_SECONDS
    return cores * STATIC_W_PER_CORE + synaptic_events * JOULES_PER_SYNAPTIC_EVENT / seconds


def inter_chip_joules(inter_chip_spikes: int) -> float:
    """Energy of the spikes that leave their chip: packet bits x 2 pJ per off-chip bit."""
    return inter_chip_spikes * SPIKE_PACKET_BITS * JOULES_PER_OFF_CHIP_BIT
