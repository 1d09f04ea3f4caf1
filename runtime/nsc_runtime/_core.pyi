"""Type stub of the compiled kernel (_core.pyx)."""

from typing import Any

import numpy as np

CF_UNIFORM: int
CF_UWEIGHTS: int
CF_STOCH_SYN: int
CF_STOCH_NEURON: int
CF_LEAKFREE: int
CF_ULEAK: int
CF_UFLAGS: int
CF_PALETTE: int
CF_PLEAK: int
PALETTE_SIZE: int
PALETTE_RAW: tuple[str, ...]
ROUTE_CORE_STRIDE: int
HEAD_FIELDS: tuple[str, ...]
POSITION: np.ndarray
NEURON: np.ndarray
ISAS: tuple[str, ...]
TABLES: dict[str, tuple[str, int | None]]
OPTIONAL: dict[str, str]

def needed_tables(cflags: Any) -> set[str]: ...
def available_isas() -> tuple[str, ...]: ...
def have_openmp() -> bool: ...

class Engine:
    n_cores: int
    n_in: int
    n_out: int
    tick: int
    v: np.ndarray
    counters: np.ndarray
    profile: np.ndarray
    isa: str
    def __init__(
        self,
        tables: dict[str, np.ndarray],
        n_cores: int,
        n_in: int,
        n_out: int,
        isa: str = "auto",
    ) -> None: ...
    @property
    def ring(self) -> np.ndarray: ...
    def reset(self) -> None: ...
    def restore(self, v: np.ndarray, ring: np.ndarray, tick: int) -> None: ...
    def run(
        self, inputs: np.ndarray, outputs: np.ndarray, threads: int = 1, profile: bool = False
    ) -> int: ...
