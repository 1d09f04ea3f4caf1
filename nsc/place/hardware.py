"""The hardware a placement targets: a grid of chips, each a 64 x 64 mesh of cores.

Every limit comes from :mod:`nsc_runtime.hw`; this module only adds the placement cost model.
Placement lays out only the chips the network needs (:func:`.mesh.curve_positions`), so
declaring many chips costs nothing; at most :data:`MAX_CHIPS_SIDE` chips per side.
Cores are numbered by their global mesh position ``(x, y)``: ``x`` runs over
``cols * 64`` columns, ``y`` over ``rows * 64`` rows; the chip of ``(x, y)`` is
``(y // 64, x // 64)``.

Cost of a spike route from position ``a`` to ``b``: one unit per mesh hop, and
``chip_hop_weight`` units (default 10) for each hop that crosses a chip boundary, i.e.
``|dx| + |dy| + (chip_hop_weight - 1) * (|dchip_x| + |dchip_y|)``. Off-chip links are slower
and cost more energy per bit than on-chip links (truenorth.md, performance-anchors.md
"2 pJ/bit off-chip" vs "72 fJ/bit core-to-core"); 10 is nsc's documented choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from nsc_runtime import hw

from ..defaults import MAX_CHIPS_SIDE
from ..errors import NscError

CHIP_HOP_WEIGHT = 10


class HardwareError(NscError, ValueError):
    """A hardware description nsc cannot target (a ``ValueError`` too, as before)."""


@dataclass(frozen=True)
class Hardware:
    """A ``rows x cols`` grid of chips. ``chip_hop_weight``: cost of a chip-crossing hop."""

    chips: tuple[int, int] = (1, 1)
    chip_hop_weight: int = CHIP_HOP_WEIGHT

    def __post_init__(self) -> None:
        rows, cols = self.chips
        if rows < 1 or cols < 1:
            raise HardwareError(f"chips must be at least 1x1, got {rows}x{cols}")
        if rows > MAX_CHIPS_SIDE or cols > MAX_CHIPS_SIDE:
            raise HardwareError(
                f"chips {rows}x{cols}: at most {MAX_CHIPS_SIDE:,} rows and {MAX_CHIPS_SIDE:,} "
                f"columns of chips ({hw.CORES_PER_CHIP:,} cores each) are supported; declare "
                "only the chips the network needs (placement uses as few as it can)"
            )
        if self.chip_hop_weight < 1:
            raise HardwareError(f"chip_hop_weight must be >= 1, got {self.chip_hop_weight}")

    @classmethod
    def parse(cls, text: str) -> Hardware:
        """``"RxC"`` (for example ``"2x1"``): R rows by C columns of chips."""
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if not match:
            raise HardwareError(f"chips must look like RxC (for example 2x1), got {text!r}")
        return cls((int(match.group(1)), int(match.group(2))))

    def __str__(self) -> str:
        return f"{self.chips[0]}x{self.chips[1]}"

    @property
    def n_chips(self) -> int:
        return self.chips[0] * self.chips[1]

    @property
    def n_cores(self) -> int:
        """Cores on all chips together."""
        return self.n_chips * hw.CORES_PER_CHIP

    @property
    def mesh_shape(self) -> tuple[int, int]:
        """``(width, height)`` of the global core mesh."""
        side = hw.CORES_PER_CHIP_SIDE
        return self.chips[1] * side, self.chips[0] * side

    def cost(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Route cost between positions ``a`` and ``b`` (arrays ``(..., 2)`` of ``(x, y)``)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        hops = np.abs(a - b).sum(axis=-1)
        side = hw.CORES_PER_CHIP_SIDE
        chip_hops = np.abs(a // side - b // side).sum(axis=-1)
        return hops + (self.chip_hop_weight - 1) * chip_hops
