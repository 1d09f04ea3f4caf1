"""The pass pipeline: passes registered by name, run in order from a spec string such as
``quantize{levels=16},split-fanin{max=64}``, with the IR verified after every pass.

A pass is a small dataclass with a kebab-case ``name``; its fields are its options (typed,
with defaults) and ``apply(graph, ctx) -> Graph`` returns a new graph (passes never mutate
their input). Its docstring states its pre- and post-condition.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import DoesNotFitError, IRVerifyError, NscError, PassError
from ..ir import Graph

REGISTRY: dict[str, type[Pass]] = {}


@dataclass
class Context:
    """What passes share besides the graph: calibration inputs, the hardware, the placement."""

    example_input: Any = None
    hardware: Any = None
    placement: Any = None
    time_limit: float = 10.0
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pass:
    """Base class. Subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        raise NotImplementedError

    def spec(self) -> str:
        opts = ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))
        return f"{self.name}{{{opts}}}" if opts else self.name


def register(cls: type[Pass]) -> type[Pass]:
    REGISTRY[cls.name] = cls
    return cls


_SPEC_ITEM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def parse_pipeline(spec: str) -> list[Pass]:
    """``"a{x=1},b"`` -> ``[A(x=1), B()]``; unknown names or options raise :class:`PassError`."""
    passes: list[Pass] = []
    pos = 0
    spec = spec.strip()
    while pos < len(spec):
        m = _SPEC_ITEM.match(spec, pos)
        if not m or m.end() == pos:
            raise PassError(f"bad pipeline spec at column {pos + 1}: {spec[pos:]!r}")
        pos = m.end()
        name, opts = m.group(1), m.group(2)
        cls = REGISTRY.get(name)
        if cls is None:
            known = ", ".join(sorted(REGISTRY))
            raise PassError(f"unknown pass {name!r}; known passes: {known}")
        passes.append(cls(**_parse_options(cls, opts or "")))
    return passes


def _parse_options(cls: type[Pass], text: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(fields) or "none"
            raise PassError(f"pass {cls.name!r}: unknown option {item!r} (options: {known})")
        default: Any = fields[key].default
        try:
            out[key] = type(default)(raw.strip())
        except ValueError:
            kind = type(default).__name__
            raise PassError(
                f"pass {cls.name!r}: option {key} takes {kind}, got {raw.strip()!r}"
            ) from None
    return out


def run_pipeline(
    graph: Graph,
    passes: list[Pass],
    ctx: Context | None = None,
    *,
    after_each: Callable[[Pass, Graph], None] | None = None,
) -> Graph:
    """Run ``passes`` in order, verifying the graph after each; name the pass that broke it."""
    ctx = ctx or Context()
    done: list[str] = []
    for p in passes:
        try:
            graph = p.apply(graph, ctx)
        except (PassError, DoesNotFitError):
            raise
        except NscError as err:
            raise PassError(f"pass {p.name} failed: {err}") from None
        try:
            graph.verify()
        except IRVerifyError as err:
            before = ", ".join(done) or "nothing"
            raise PassError(
                f"pass {p.name} left the IR broken: {err} (passes run before it: {before})"
            ) from None
        done.append(p.name)
        if after_each is not None:
            after_each(p, graph)
    return graph
