"""Placement: logical neurons to cores (with fan-out copies and shared axons), cores to mesh
positions, minimizing cores first and hop-weighted spike traffic second (docs/placement.md)."""

from .api import apply_placement, place
from .bounds import LowerBound, lower_bound
from .hardware import CHIP_HOP_WEIGHT, Hardware
from .plot import plot_placement
from .problem import Labels, PlacementProblem, Segment, extract_problem
from .report import Placement, PlacementReport
from .usage import Usage, evaluate

__all__ = [
    "CHIP_HOP_WEIGHT",
    "Hardware",
    "Labels",
    "LowerBound",
    "Placement",
    "PlacementProblem",
    "PlacementReport",
    "Segment",
    "Usage",
    "apply_placement",
    "evaluate",
    "extract_problem",
    "lower_bound",
    "place",
    "plot_placement",
]
