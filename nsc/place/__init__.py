"""Placement: logical neurons to cores (with fan-out copies and shared axons), cores to mesh
positions, minimizing cores first and hop-weighted spike traffic second (docs/placement.md)."""

from .api import apply_placement, place
from .bounds import LowerBound, check_fits_graph, lower_bound
from .effort import Effort
from .hardware import CHIP_HOP_WEIGHT, Hardware, HardwareError
from .plot import plot_placement
from .problem import Labels, PlacementProblem, Segment, extract_problem
from .report import Placement, PlacementReport
from .usage import Usage, evaluate

__all__ = [
    "CHIP_HOP_WEIGHT",
    "Effort",
    "Hardware",
    "HardwareError",
    "Labels",
    "LowerBound",
    "Placement",
    "PlacementProblem",
    "PlacementReport",
    "Segment",
    "Usage",
    "apply_placement",
    "check_fits_graph",
    "evaluate",
    "extract_problem",
    "lower_bound",
    "place",
    "plot_placement",
]
