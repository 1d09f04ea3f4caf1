"""User-facing errors. Every error nsc raises for bad input is an :class:`NscError`."""

from __future__ import annotations


class NscError(Exception):
    """Base class of every user-facing nsc error (bad input, does-not-fit, mismatches)."""


class CoreletFormatError(NscError):
    """A corelet binary is malformed: truncated, corrupted, or out of range."""


class CoreletError(NscError):
    """A corelet (in memory) violates a hardware rule."""
