"""Constraint passes, one module each, run by one pipeline (see pipeline.py)."""

from . import encode_weights, insert_delays, lower, place_pass, quantize, split_fanin
from .pipeline import (
    DEFAULT_LEVELS,
    DEFAULT_MAX_FANIN,
    REGISTRY,
    Context,
    Pass,
    default_pipeline,
    parse_pipeline,
    plan_pipeline,
    run_pipeline,
)

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_FANIN",
    "REGISTRY",
    "Context",
    "Pass",
    "default_pipeline",
    "encode_weights",
    "insert_delays",
    "lower",
    "parse_pipeline",
    "place_pass",
    "plan_pipeline",
    "quantize",
    "run_pipeline",
    "split_fanin",
]
