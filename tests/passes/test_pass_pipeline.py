"""The pipeline runner: spec parsing, option typing, verification after every pass, naming the
pass that broke the IR, the after_each hook, and passes never mutating their input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from passtest_util import INTEGER, LOWER, activities, place, rnn_network, run

from nsc.errors import DoesNotFitError, NscError, PassError
from nsc.ir import Graph, Neurons, Output
from nsc.passes import REGISTRY, Context, Pass, parse_pipeline, run_pipeline
from nsc.passes.encode_weights import EncodeWeights
from nsc.passes.insert_delays import InsertDelays
from nsc.passes.lower import LowerToCores, ReplicateFanout
from nsc.passes.pipeline import register
from nsc.passes.place_pass import Place
from nsc.passes.quantize import Quantize
from nsc.passes.split_fanin import SplitFanin

BUILTIN = {
    "quantize",
    "insert-delays",
    "split-fanin",
    "encode-weights",
    "replicate-fanout",
    "lower-to-cores",
    "place",
}


def test_registry_holds_every_builtin_pass() -> None:
    assert set(REGISTRY) >= BUILTIN
    for name in BUILTIN:
        assert REGISTRY[name].name == name
        assert REGISTRY[name].__doc__


def test_parse_pipeline_builds_typed_passes() -> None:
    passes = parse_pipeline(
        " quantize{levels=8} , insert-delays,split-fanin{ max = 12 },encode-weights,"
        "place{time-limit=2.5},replicate-fanout,lower-to-cores"
    )
    assert passes == [
        Quantize(levels=8),
        InsertDelays(),
        SplitFanin(max=12),
        EncodeWeights(),
        Place(time_limit=2.5),
        ReplicateFanout(),
        LowerToCores(),
    ]
    assert isinstance(passes[0].levels, int)  # type: ignore[attr-defined]
    assert isinstance(passes[4].time_limit, float)  # type: ignore[attr-defined]


def test_parse_pipeline_defaults_and_empty() -> None:
    assert parse_pipeline("quantize") == [Quantize(levels=16)]
    assert parse_pipeline("split-fanin{}") == [SplitFanin(max=64)]
    assert parse_pipeline("") == []
    assert parse_pipeline("   ") == []


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_spec_round_trips(name: str) -> None:
    p = REGISTRY[name]()
    assert parse_pipeline(p.spec()) == [p]
    custom = parse_pipeline(p.spec())[0]
    assert custom.spec() == p.spec()


def test_spec_round_trips_non_default_options() -> None:
    passes = parse_pipeline("quantize{levels=5},split-fanin{max=3},place{time_limit=0.5,seed=2}")
    spec = ",".join(p.spec() for p in passes)
    assert (
        spec == "quantize{levels=5},split-fanin{max=3},place{time_limit=0.5,effort=normal,seed=2}"
    )
    assert parse_pipeline(spec) == passes


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("quantize,frobnicate", ["unknown pass 'frobnicate'", "known passes:", "quantize"]),
        ("Quantize", ["bad pipeline spec at column 1"]),
        ("quantize{bits=4}", ["pass 'quantize'", "unknown option 'bits=4'", "options: levels"]),
        ("quantize{levels}", ["unknown option 'levels'"]),
        ("encode-weights{x=1}", ["pass 'encode-weights'", "options: none"]),
        ("quantize{levels=abc}", ["pass 'quantize'", "option levels takes int, got 'abc'"]),
        ("quantize{levels=1.5}", ["option levels takes int, got '1.5'"]),
        ("split-fanin{max=}", ["option max takes int, got ''"]),
        ("place{time_limit=soon}", ["option time_limit takes float, got 'soon'"]),
        ("quantize{levels=16", ["bad pipeline spec at column 1"]),
        ("quantize,,insert-delays", ["bad pipeline spec at column 10"]),
        ("quantize{levels=16}insert-delays", ["bad pipeline spec at column 1"]),
        ("quantize;insert-delays", ["bad pipeline spec"]),
    ],
)
def test_parse_pipeline_errors(spec: str, fragments: list[str]) -> None:
    with pytest.raises(PassError) as info:
        parse_pipeline(spec)
    for fragment in fragments:
        assert fragment in str(info.value)


@dataclass(frozen=True)
class BreakIR(Pass):
    """Test pass: points the first Output at a node that does not exist."""

    name = "test-break-ir"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        g = graph.copy()
        out = g.of_type(Output)[0]
        g.nodes[out.name] = out.replace(source="vanished")
        return g


@dataclass(frozen=True)
class Fail(Pass):
    """Test pass: raises an IR error from inside apply (not a PassError)."""

    name = "test-fail-inside"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        raise graph.of_type(Output)[0].fail("test rule broken")


@dataclass(frozen=True)
class TooBig(Pass):
    """Test pass: the network does not fit."""

    name = "test-too-big"

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        raise DoesNotFitError("core 0 would hold 300 neurons")


@pytest.fixture
def test_passes() -> Iterator[None]:
    added = [BreakIR, Fail, TooBig]
    for cls in added:
        REGISTRY[cls.name] = cls
    yield
    for cls in added:
        REGISTRY.pop(cls.name, None)


@pytest.fixture(scope="module")
def network() -> tuple[Graph, np.ndarray]:
    g = rnn_network(4, 5, seed=11, readout=3)
    return g, activities((4, 3, 4), 5)


def test_run_pipeline_names_the_pass_that_broke_the_ir(
    test_passes: None, network: tuple[Graph, np.ndarray]
) -> None:
    g, x = network
    passes = parse_pipeline("quantize,insert-delays,test-break-ir,encode-weights")
    with pytest.raises(PassError) as info:
        run_pipeline(g, passes, Context(example_input=x))
    msg = str(info.value)
    assert "pass test-break-ir left the IR broken" in msg
    assert "operand %vanished is not defined" in msg
    assert "passes run before it: quantize, insert-delays" in msg


def test_run_pipeline_first_pass_breaks(
    test_passes: None, network: tuple[Graph, np.ndarray]
) -> None:
    g, _ = network
    with pytest.raises(PassError, match=r"passes run before it: nothing"):
        run_pipeline(g, parse_pipeline("test-break-ir"))


def test_run_pipeline_wraps_errors_raised_inside_a_pass(
    test_passes: None, network: tuple[Graph, np.ndarray]
) -> None:
    g, _ = network
    with pytest.raises(PassError) as info:
        run_pipeline(g, parse_pipeline("test-fail-inside"))
    assert "pass test-fail-inside failed" in str(info.value)
    assert "test rule broken" in str(info.value)


def test_run_pipeline_lets_does_not_fit_through(
    test_passes: None, network: tuple[Graph, np.ndarray]
) -> None:
    g, _ = network
    with pytest.raises(DoesNotFitError, match="300 neurons"):
        run_pipeline(g, parse_pipeline("test-too-big"))


def test_after_each_sees_every_stage(network: tuple[Graph, np.ndarray]) -> None:
    g, x = network
    seen: list[tuple[str, Graph]] = []
    passes = parse_pipeline(INTEGER)
    final = run_pipeline(
        g, passes, Context(example_input=x), after_each=lambda p, gr: seen.append((p.name, gr))
    )
    assert [name for name, _ in seen] == [p.name for p in passes]
    assert seen[-1][1] is final
    for _, stage in seen:
        stage.verify()
    assert len({id(stage) for _, stage in seen}) == len(seen)  # a new graph per pass


def test_run_pipeline_without_passes_returns_the_graph(network: tuple[Graph, np.ndarray]) -> None:
    g, _ = network
    assert run_pipeline(g, []) is g


def test_quantize_error_is_a_pass_error_naming_the_pass(network: tuple[Graph, np.ndarray]) -> None:
    g, _ = network
    with pytest.raises(PassError, match="quantize needs an example input"):
        run_pipeline(g, parse_pipeline("quantize"), Context())


def test_passes_never_mutate_their_input(network: tuple[Graph, np.ndarray]) -> None:
    """Every pass returns a new graph and leaves the one it was given untouched (deeply)."""
    from nsc.text import parse_ir, print_ir

    g, x = network
    stages: list[Graph] = [g]
    texts = [print_ir(g)]
    ctx = Context(example_input=x)
    for spec in [*INTEGER.split(","), "test-place", *LOWER.split(",")]:
        if spec == "test-place":
            new = place(stages[-1], 0)
        else:
            new = run_pipeline(stages[-1], parse_pipeline(spec), ctx)
        stages.append(new)
        texts.append(print_ir(new))
    for stage, text in zip(stages, texts):
        assert print_ir(stage) == text
        assert parse_ir(text).same_as(stage)


def test_errors_are_nsc_errors() -> None:
    with pytest.raises(NscError):
        parse_pipeline("nope")
    assert issubclass(PassError, NscError)
    assert issubclass(DoesNotFitError, NscError)


def test_unplaced_lowering_names_the_population(network: tuple[Graph, np.ndarray]) -> None:
    g, x = network
    gi = run(g, INTEGER, x)
    for spec in LOWER.split(","):
        with pytest.raises(PassError) as info:
            run(gi, spec)
        assert f"pass {spec} needs a graph at level placed or later" in str(info.value)
        assert "at level encoded (run place first)" in str(info.value)
    for spec in LOWER.split(","):  # a graph claiming to be placed, with a population that is not
        claimed = gi.copy()
        claimed.attrs["level"] = "placed"
        with pytest.raises(PassError) as info:
            run(claimed, spec)
        assert f"pass {spec} failed" in str(info.value)
        assert "needs a placement: run place first" in str(info.value)
        assert f"%{gi.of_type(Neurons)[0].name}" in str(info.value)


@register
@dataclass(frozen=True)
class _TypedOptions(Pass):
    """A pass that only exists to exercise option parsing."""

    name = "test-typed-options"
    requires = "network"
    produces = "network"
    count: int
    flag: bool = False
    mode: Literal["fast", "exact"] = "fast"
    scale: float = 1.0

    def apply(self, graph: Graph, ctx: Context) -> Graph:
        return graph


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("test-typed-options{count=3}", (3, False, "fast", 1.0)),
        ("test-typed-options{count=3,flag=false}", (3, False, "fast", 1.0)),
        ("test-typed-options{count=3,flag=true,mode=exact,scale=2.5}", (3, True, "exact", 2.5)),
    ],
)
def test_options_are_typed(spec: str, expected: tuple) -> None:
    (p,) = parse_pipeline(spec)
    assert (p.count, p.flag, p.mode, p.scale) == expected  # type: ignore[attr-defined]
    assert parse_pipeline(p.spec())[0] == p  # the canonical spec parses back


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("test-typed-options", "required option count is missing"),
        ("test-typed-options{count=x}", "option count takes int, got 'x'"),
        ("test-typed-options{count=1,flag=yes}", "option flag takes true or false, got 'yes'"),
        ("test-typed-options{count=1,mode=slow}", "option mode takes one of fast, exact"),
        ("test-typed-options{count=1,scale=nan}", "option scale must be a finite number"),
        ("test-typed-options{count=1,count=2}", "option count is given twice"),
    ],
)
def test_bad_options_name_the_option(spec: str, message: str) -> None:
    with pytest.raises(PassError, match=re.escape(message)):
        parse_pipeline(spec)
