"""The in-memory corelet: a compiled network of TrueNorth-class cores, ports and geometry.

This is the contract between the compiler backend (which builds one), the binary format
(``nsc_runtime.format``, which writes and reads one), the numpy reference simulator and the
Cython runtime (which run one). Arrays are plain numpy arrays with the dtypes given here.

Per-tick semantics of every neuron: ``shared/reference/truenorth.md`` and docs/runtime.md.

Geometry: core ``c`` sits at global mesh position ``(x, y) = position[c]``; it belongs to chip
``(x // 64, y // 64)``. Mesh hops between two cores are the Manhattan distance of positions.

Ports:
- an input port line ``k`` drives every (core, axon) listed for it; a host spike on line ``k`` due
  at tick ``t`` is integrated at tick ``t`` (no delay);
- an output port line ``k`` reports the spikes of one (core, neuron) at the tick they fire.
  A neuron may be an output and also have an on-chip destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import hw

_DTYPES: dict[str, type] = {"u8": np.uint8, "i16": np.int16, "i32": np.int32}

# name -> dtype for the (cores, 256) per-neuron parameter arrays (weights: (cores, 256, 4)),
# in file order; both come from the one range table, hw.NEURON_PARAM_RANGES
NEURON_FIELDS: dict[str, type] = {
    name: _DTYPES[dtype] for name, (dtype, _, _) in hw.NEURON_PARAM_RANGES.items()
}


def neuron_field_shape(name: str, n_cores: int) -> tuple[int, ...]:
    """Shape of the ``NEURON_FIELDS[name]`` array of a corelet with ``n_cores`` cores."""
    if name == "weights":
        return (n_cores, hw.NEURONS_PER_CORE, hw.AXON_TYPES)
    return (n_cores, hw.NEURONS_PER_CORE)


@dataclass(eq=False)
class Port:
    """A named group of lines. ``lines[k]`` lists (core, index) pairs: axons for an input port
    (a line may drive several axons), exactly one neuron for an output port."""

    name: str
    lines: list[np.ndarray]  # each an int32 array of shape (m, 2): (core, axon or neuron)


@dataclass(eq=False)
class Corelet:
    """A compiled network ready to run: C cores, their geometry, ports and PRNG seeds."""

    axon_types: np.ndarray  # uint8 (C, 256), values 0..3
    crossbar: np.ndarray  # bool (C, 256 axons, 256 neurons)
    neurons: dict[str, np.ndarray]  # NEURON_FIELDS, each (C, 256) [weights: (C, 256, 4)]
    position: np.ndarray  # int32 (C, 2) global mesh (x, y)
    seeds: np.ndarray  # uint32 (C,)
    inputs: list[Port] = field(default_factory=list)
    outputs: list[Port] = field(default_factory=list)
    chips: tuple[int, int] = (1, 1)  # chip grid (rows, cols)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def n_cores(self) -> int:
        return int(self.axon_types.shape[0])

    @classmethod
    def empty(cls, n_cores: int, chips: tuple[int, int] = (1, 1)) -> Corelet:
        """All-silent cores: zero crossbar, no destinations, alpha = 1, reset mode none=0."""
        c, n = n_cores, hw.NEURONS_PER_CORE
        neurons: dict[str, np.ndarray] = {
            k: np.zeros((c, n), dt) for k, dt in NEURON_FIELDS.items() if k != "weights"
        }
        neurons["weights"] = np.zeros((c, n, hw.AXON_TYPES), np.int16)
        neurons["alpha"][:] = 1
        neurons["dest_core"][:] = hw.NO_DEST
        neurons["delay"][:] = hw.DELAY_MIN
        side = hw.CORES_PER_CHIP_SIDE
        pos = np.stack([np.arange(c) % side, np.arange(c) // side], axis=1).astype(np.int32)
        return cls(
            axon_types=np.zeros((c, hw.AXONS_PER_CORE), np.uint8),
            crossbar=np.zeros((c, hw.AXONS_PER_CORE, n), bool),
            neurons=neurons,
            position=pos,
            seeds=np.arange(1, c + 1, dtype=np.uint32),
            chips=chips,
        )

    def validate(self) -> None:
        """Raise :class:`CoreletError` naming the first core/neuron that breaks a hardware rule."""
        from .validate import validate_corelet

        validate_corelet(self)
