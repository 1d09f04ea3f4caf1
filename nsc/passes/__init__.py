"""Constraint passes, one module each, run by one pipeline (see pipeline.py)."""

from . import encode_weights, insert_delays, lower, place_pass, quantize, split_fanin
from .pipeline import REGISTRY, Context, Pass, parse_pipeline, run_pipeline

__all__ = [
    "REGISTRY",
    "Context",
    "Pass",
    "encode_weights",
    "insert_delays",
    "lower",
    "parse_pipeline",
    "place_pass",
    "quantize",
    "run_pipeline",
    "split_fanin",
]
