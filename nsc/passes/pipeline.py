"""The pass pipeline: passes registered by name, run in order from a spec string such as
``quantize{levels=16},split-fanin{max=64}``, with the IR verified after every pass.

A pass is a small frozen dataclass with a kebab-case ``name``; its fields are its options
(typed: int, float, bool, str, or ``Literal[...]`` choices; a field without a default is a
required option) and ``apply(graph, ctx) -> Graph`` returns a new graph (passes never mutate
their input). It declares the IR level it ``requires`` (the graph must be at that level or
later) and the level it ``produces``; its docstring states its pre- and post-condition.

The runner records on every graph it returns its ``level`` and its ``pipeline`` (the passes
applied so far followed by those still planned), so a graph dumped after any pass resumes
exactly: :func:`plan_pipeline` reads them back.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..defaults import DEFAULT_LEVELS, DEFAULT_MAX_FANIN
from ..errors import DoesNotFitError, IRVerifyError, NscError, PassError
from ..ir import Graph
from ..ir.nodes import LEVELS, level_index

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
    requires: ClassVar[str] = "network"
    produces: ClassVar[str] = "network"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        raise NotImplementedError

    def spec(self) -> str:
        """The canonical spec of this pass with every option, e.g. ``quantize{levels=16}``."""
        opts = ",".join(
            f"{f.name}={_format_option(getattr(self, f.name))}" for f in dataclasses.fields(self)
        )
        return f"{self.name}{{{opts}}}" if opts else self.name


def register(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a pass known by its ``name`` (levels checked at import)."""
    if cls.name in REGISTRY:
        raise TypeError(f"pass name {cls.name!r} is already registered")
    if level_index(cls.requires) > level_index(cls.produces):
        raise TypeError(f"pass {cls.name!r} produces a level below the one it requires")
    REGISTRY[cls.name] = cls
    return cls


def default_pipeline(levels: int = DEFAULT_LEVELS, max_fanin: int = DEFAULT_MAX_FANIN) -> str:
    """The pipeline from a float network to cores."""
    return (
        f"quantize{{levels={levels}}},insert-delays,split-fanin{{max={max_fanin}}},"
        "encode-weights,place,replicate-fanout,lower-to-cores"
    )


def plan_pipeline(
    graph: Graph, *, levels: int | None = None, max_fanin: int | None = None
) -> list[Pass]:
    """The passes that take ``graph`` from its level to cores.

    A graph that records a ``pipeline`` (every dump nsc writes does) resumes that pipeline
    exactly, unless ``levels`` or ``max_fanin`` are given; otherwise the default pipeline
    with those options. Never guessed from the node types: the level is recorded.
    """
    at = level_index(graph.level)
    recorded = graph.attrs.get("pipeline")
    if recorded and levels is None and max_fanin is None:
        rest = [p for p in parse_pipeline(str(recorded)) if level_index(p.produces) > at]
        if not rest or rest[-1].produces == LEVELS[-1]:
            return rest
    default = parse_pipeline(
        default_pipeline(levels or DEFAULT_LEVELS, max_fanin or DEFAULT_MAX_FANIN)
    )
    return [p for p in default if level_index(p.produces) > at]


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
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(fields) or "none"
            raise PassError(f"pass {cls.name!r}: unknown option {item!r} (options: {known})")
        if key in out:
            raise PassError(f"pass {cls.name!r}: option {key} is given twice")
        out[key] = _convert_option(cls.name, key, hints[key], raw.strip())
    missing = [
        f.name
        for f in fields.values()
        if f.name not in out
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise PassError(f"pass {cls.name!r}: required option {missing[0]} is missing")
    return out


def _convert_option(pass_name: str, key: str, kind: Any, raw: str) -> Any:
    """``raw`` as a value of the option's declared type, or a PassError naming the option."""
    where = f"pass {pass_name!r}: option {key}"
    if typing.get_origin(kind) is Literal:
        choices = [str(c) for c in typing.get_args(kind)]
        if raw not in choices:
            raise PassError(f"{where} takes one of {', '.join(choices)}, got {raw!r}")
        return raw
    if kind is bool:
        if raw.lower() not in ("true", "false", "1", "0"):
            raise PassError(f"{where} takes true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise PassError(f"{where} takes {kind.__name__}, got {raw!r}") from None
    if kind is float and not math.isfinite(value):
        raise PassError(f"{where} must be a finite number, got {raw!r}")
    return value


def _format_option(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def full_plan(graph: Graph, passes: list[Pass]) -> str:
    """The pipeline to record on what ``passes`` make of ``graph``: the passes its recorded
    pipeline applied up to its level, then ``passes``, then the recorded passes planned
    beyond the level ``passes`` reach (so running the next planned pass by hand, with
    ``nsc opt``, records what ``nsc compile`` would)."""
    recorded = parse_pipeline(str(graph.attrs["pipeline"])) if "pipeline" in graph.attrs else []
    at = level_index(graph.level)
    reached = max([at, *(level_index(p.produces) for p in passes)])
    applied = [p for p in recorded if level_index(p.produces) <= at]
    rest = [p for p in recorded if level_index(p.produces) > reached]
    return ",".join(p.spec() for p in [*applied, *passes, *rest])


def run_pipeline(
    graph: Graph,
    passes: list[Pass],
    ctx: Context | None = None,
    *,
    after_each: Callable[[Pass, Graph], None] | None = None,
) -> Graph:
    """Run ``passes`` in order, verifying the graph after each; name the pass that broke it.
    Each returned graph records its ``level`` and ``pipeline`` (see the module docstring)."""
    ctx = ctx or Context()
    plan = full_plan(graph, passes)
    done: list[str] = []
    for p in passes:
        level = graph.level
        if level_index(level) < level_index(p.requires):
            missing = [
                q.name
                for q in sorted(REGISTRY.values(), key=lambda q: level_index(q.produces))
                if level_index(level) < level_index(q.produces) <= level_index(p.requires)
            ]
            raise PassError(
                f"pass {p.name} needs a graph at level {p.requires} or later; this graph is "
                f"at level {level} (run {', '.join(missing) or 'the earlier passes'} first)"
            )
        try:
            before_pass = graph
            graph = p.apply(graph, ctx)
            if graph is before_pass:  # a no-op pass: record the level on a copy
                graph = graph.copy()
        except (PassError, DoesNotFitError):
            raise
        except NscError as err:
            raise PassError(f"pass {p.name} failed: {err}") from None
        if graph.level not in LEVELS or level_index(graph.level) < level_index(p.produces):
            graph.attrs["level"] = p.produces
        else:
            graph.attrs["level"] = graph.level
        graph.attrs["pipeline"] = plan
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
