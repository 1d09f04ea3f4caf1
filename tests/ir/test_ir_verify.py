"""Node and graph verification: every rule raises IRVerifyError naming the node and the rule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from irtest_util import core, host_graph, pop

from nsc.errors import IRVerifyError, NscError
from nsc.ir import (
    AxonSynapses,
    CoreInput,
    CoreOutput,
    ElmanRNN,
    Graph,
    Input,
    Linear,
    Output,
    QLinear,
    ReLU,
    Span,
    SpikeCount,
    Synapses,
)
from nsc_runtime import hw


def valid_graph() -> Graph:
    """One graph holding every node type, valid as built."""
    g = host_graph(window=4, features=3, levels=16)
    g.add(Input("xf", features=4))
    g.add(Linear("lin", source="xf", weight=np.ones((3, 4)), bias=np.zeros(3)))
    g.add(ReLU("relu", source="lin"))
    g.add(ElmanRNN("rnn", source="relu", w_ih=np.ones((2, 3)), w_hh=np.eye(2), bias=np.zeros(2)))
    g.add(Output("out_f", source="rnn"))
    g.add(QLinear("q", source="x", weight=np.ones((2, 3)), bias=np.zeros(2), divisor=2, levels=8))
    g.add(pop("p", 2, type_weights=np.tile([1, 2, 4, -8], (2, 1))))
    g.add(pop("r", 2))
    g.add(Synapses("syn", source="x", target="r", weight=np.ones((2, 3)), delay=[0, 0, 0]))
    g.add(Synapses("rec", source="r", target="r", weight=np.eye(2), delay=[4, 4]))
    g.add(
        AxonSynapses(
            "asyn",
            source="q",
            target="p",
            axon_source=[0, 1, 1],
            axon_type=[0, 1, 3],
            crossbar=[[1, 0, 1], [0, 1, 1]],
            delay=[0, 0],
        )
    )
    g.add(SpikeCount("cnt", source="p", offset=4))
    g.add(Output("out_i", source="cnt"))
    g.add(
        core(
            "core0",
            axon_types=[0, 1],
            crossbar=[[1], [1]],
            weights=[[1, 1, 0, 0]],
            dest_core=[0],
            dest_axon=[1],
            delay=[4],
        )
    )
    g.add(CoreInput("cin", source="x", lines=[[0, 0, 0]], delay=0))
    g.add(CoreOutput("cout", lines=[[0, 0]], offset=0))
    return g


def test_valid_graph_verifies() -> None:
    valid_graph().verify()


def edit(name: str, **changes: object) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        g.nodes[name] = g[name].replace(**changes)

    return apply


NODE_CASES = [
    # (id, node, edit, fragment of the rule)
    ("input-features", "x", edit("x", features=0), "features must be >= 1, got 0"),
    ("input-levels-1", "x", edit("x", levels=1), "levels must be 0 (float) or >= 2, got 1"),
    ("input-levels-neg", "xf", edit("xf", levels=-3), "levels must be 0 (float) or >= 2"),
    (
        "linear-weight-cols",
        "lin",
        edit("lin", weight=np.ones((3, 5))),
        "weight has shape (3, 5), expected (3, 4)",
    ),
    ("linear-weight-1d", "lin", edit("lin", weight=np.ones(4)), "weight must be 2-D"),
    ("linear-bias-shape", "lin", edit("lin", bias=np.zeros(2)), "bias has shape (2,), expected"),
    (
        "linear-weight-nan",
        "lin",
        edit("lin", weight=np.where(np.eye(3, 4) > 0, np.nan, 1.0)),
        "weight holds NaN or infinite values",
    ),
    (
        "linear-bias-inf",
        "lin",
        edit("lin", bias=np.array([0.0, np.inf, 0.0])),
        "bias holds NaN or infinite values",
    ),
    ("rnn-whh-rect", "rnn", edit("rnn", w_hh=np.ones((2, 3))), "w_hh has shape (2, 3)"),
    ("rnn-whh-1d", "rnn", edit("rnn", w_hh=np.ones(2)), "w_hh must be a square 2-D matrix"),
    ("rnn-wih-cols", "rnn", edit("rnn", w_ih=np.ones((2, 4))), "w_ih has shape (2, 4)"),
    ("rnn-bias", "rnn", edit("rnn", bias=np.ones(3)), "bias has shape (3,)"),
    (
        "rnn-whh-nan",
        "rnn",
        edit("rnn", w_hh=np.array([[np.nan, 0.0], [0.0, 1.0]])),
        "w_hh holds NaN or infinite values",
    ),
    (
        "rnn-nonlinearity",
        "rnn",
        edit("rnn", nonlinearity="sigmoid"),
        "nonlinearity must be 'relu' or 'tanh', got 'sigmoid'",
    ),
    ("qlinear-divisor", "q", edit("q", divisor=0), "divisor must be >= 1, got 0"),
    ("qlinear-levels", "q", edit("q", levels=1), "levels must be 0 (raw) or >= 2, got 1"),
    ("qlinear-weight", "q", edit("q", weight=np.ones((2, 2))), "weight has shape (2, 2)"),
    ("qlinear-bias", "q", edit("q", bias=np.ones(3)), "bias has shape (3,), expected (2,)"),
    ("neurons-count", "r", edit("r", count=0), "count must be >= 1, got 0"),
    ("neurons-len", "r", edit("r", leak=np.zeros(3)), "leak has shape (3,), expected (2,)"),
    ("neurons-alpha-neg", "r", edit("r", alpha=[1, -1]), "alpha[1] = -1 is outside [0, 262143]"),
    (
        "neurons-alpha-max",
        "r",
        edit("r", alpha=[hw.ALPHA_MAX + 1, 1]),
        f"alpha[0] = {hw.ALPHA_MAX + 1} is outside",
    ),
    ("neurons-leak", "r", edit("r", leak=[0, 256]), "leak[1] = 256 is outside [-255, 255]"),
    ("neurons-leak-neg", "r", edit("r", leak=[-256, 0]), "leak[0] = -256 is outside"),
    ("neurons-beta", "r", edit("r", beta=[-1, 0]), "beta[0] = -1 is outside"),
    ("neurons-kappa", "r", edit("r", kappa=[2, 0]), "kappa[0] = 2 is outside [0, 1]"),
    ("neurons-mode", "r", edit("r", reset_mode=[0, 3]), "reset_mode[1] = 3 is outside [0, 2]"),
    ("neurons-v0", "r", edit("r", v0=[hw.V_MAX + 1, 0]), "v0[0] = 393216 is outside"),
    ("neurons-tm", "r", edit("r", tm=[9, 0]), "tm[0] = 9 is outside [0, 8]"),
    (
        "neurons-tw-shape",
        "p",
        edit("p", type_weights=np.ones((2, 3))),
        "type_weights has shape (2, 3), expected (2, 4)",
    ),
    (
        "neurons-tw-range",
        "p",
        edit("p", type_weights=[[1, 2, 4, -8], [1, 2, 256, -8]]),
        "type_weights[6] = 256 is outside [-255, 255]",
    ),
    ("neurons-core", "p", edit("p", core=np.zeros(3)), "core has shape (3,), expected (2,)"),
    ("syn-weight", "syn", edit("syn", weight=np.ones((3, 3))), "weight has shape (3, 3)"),
    ("syn-delay-len", "syn", edit("syn", delay=[0, 0]), "delay has shape (2,), expected (3,)"),
    ("syn-host-delay", "syn", edit("syn", delay=[0, 16, 0]), "delay[1] = 16 is outside [0, 15]"),
    ("syn-neuron-delay-0", "rec", edit("rec", delay=[1, 0]), "delay[1] = 0 is outside [1, 15]"),
    (
        "syn-float-source",
        "syn",
        edit("syn", source="xf", weight=np.ones((2, 4)), delay=np.zeros(4)),
        "source %xf must be a neurons node or an integer host node",
    ),
    (
        "syn-raw-qlinear-source",
        "syn",
        lambda g: (
            edit("q", levels=0)(g),
            edit("syn", source="q", weight=np.ones((2, 2)), delay=np.zeros(2))(g),
        ),
        "source %q must be a neurons node or an integer host node",
    ),
    (
        "syn-target",
        "syn",
        edit("syn", target="q"),
        "target %q must be a neurons node",
    ),
    (
        "asyn-no-type-weights",
        "asyn",
        edit("asyn", target="r"),
        "target %r has no type_weights (run encode-weights)",
    ),
    (
        "asyn-axon-source",
        "asyn",
        edit("asyn", axon_source=[0, 1, 2]),
        "axon_source[2] = 2 is outside [0, 1]",
    ),
    ("asyn-axon-type", "asyn", edit("asyn", axon_type=[0, 4, 1]), "axon_type[1] = 4 is outside"),
    (
        "asyn-crossbar",
        "asyn",
        edit("asyn", crossbar=np.ones((2, 2))),
        "crossbar has shape (2, 2), expected (2, 3)",
    ),
    ("asyn-axon-source-2d", "asyn", edit("asyn", axon_source=np.zeros((3, 1))), "must be 1-D"),
    ("count-source", "cnt", edit("cnt", source="q"), "source %q must be a neurons node"),
    ("count-offset", "cnt", edit("cnt", offset=-1), "offset must be >= 0, got -1"),
    (
        "core-crossbar",
        "core0",
        edit("core0", crossbar=np.zeros((256, 255), bool)),
        "crossbar has shape (256, 255), expected (256, 256)",
    ),
    (
        "core-weights",
        "core0",
        edit("core0", weights=np.full((256, 4), -256)),
        "weights[0] = -256 is outside",
    ),
    (
        "core-dest-axon",
        "core0",
        edit("core0", dest_axon=np.full(256, 256)),
        "dest_axon[0] = 256 is outside [0, 255]",
    ),
    ("core-delay", "core0", edit("core0", delay=np.zeros(256)), "delay[0] = 0 is outside [1, 15]"),
    ("core-position", "core0", edit("core0", x=-1), "position (-1, 0) must be non-negative"),
    (
        "core-dest-core",
        "core0",
        edit("core0", dest_core=np.r_[1, np.full(255, -1)]),
        "neuron 0 targets core 1, but the graph has 1 cores",
    ),
    (
        "core-input-lines",
        "cin",
        edit("cin", lines=np.zeros((1, 2))),
        "lines must have shape (m, 3), got (1, 2)",
    ),
    ("core-input-feature", "cin", edit("cin", lines=[[3, 0, 0]]), "a line refers to feature >= 3"),
    ("core-input-neg", "cin", edit("cin", lines=[[0, 0, -1]]), "lines[2] = -1 is outside"),
    # lines must point at an existing core (1 in this graph) and at an axon / neuron < 256;
    # otherwise the interpreter (and the backend) index out of range
    ("core-input-core-range", "cin", edit("cin", lines=[[0, 1, 0]]), "core"),
    ("core-input-axon-range", "cin", edit("cin", lines=[[0, 0, 256]]), "axon"),
    ("core-output-core-range", "cout", edit("cout", lines=[[1, 0]]), "core"),
    ("core-output-neuron-range", "cout", edit("cout", lines=[[0, 256]]), "neuron"),
    (
        "core-output-lines",
        "cout",
        edit("cout", lines=np.zeros((2, 3))),
        "lines must have shape (n, 2), got (2, 3)",
    ),
    ("core-output-offset", "cout", edit("cout", offset=-2), "offset must be >= 0, got -2"),
    (
        "missing-operand",
        "relu",
        edit("relu", source="nope"),
        "operand %nope is not defined in this graph",
    ),
    (
        "zero-dim-array",
        "lin",
        edit("lin", bias=np.float64(1.0)),
        "bias must have at least one dimension",
    ),
]


@pytest.mark.parametrize(
    ("node", "mutate", "rule"), [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES]
)
def test_verify_names_node_and_rule(node: str, mutate: Callable[[Graph], None], rule: str) -> None:
    g = valid_graph()
    mutate(g)
    with pytest.raises(IRVerifyError) as info:
        g.verify()
    err = info.value
    assert err.node == node
    assert f"node %{node}: " in str(err)
    assert rule in str(err)
    assert isinstance(err, NscError)


def test_error_carries_source_span() -> None:
    g = valid_graph()
    bad = g["lin"].replace(weight=np.ones((3, 9)))
    bad.span = Span("model.nsir", 7, 3)
    g.nodes["lin"] = bad
    with pytest.raises(IRVerifyError) as info:
        g.verify()
    assert str(info.value).startswith("model.nsir:7:3: node %lin: weight has shape (3, 9)")
    assert info.value.span == Span("model.nsir", 7, 3)


def test_replace_keeps_span_and_does_not_mutate() -> None:
    node = Linear("lin", source="x", weight=np.ones((1, 1)))
    node.span = Span(None, 1, 2)
    new = node.replace(weight=np.zeros((1, 1)))
    assert new.span == Span(None, 1, 2)
    assert node.weight[0, 0] == 1.0
    assert str(new.span) == "<string>:1:2"


def test_duplicate_name_rejected() -> None:
    g = valid_graph()
    with pytest.raises(IRVerifyError) as info:
        g.add(ReLU("lin", source="x"))
    assert info.value.node == "lin"
    assert "a node with this name already exists" in str(info.value)
    assert isinstance(g["lin"], Linear)  # the original is kept


def test_unknown_node_lookup() -> None:
    with pytest.raises(IRVerifyError, match=r"node %ghost: no node of this name"):
        valid_graph()["ghost"]


def test_cycle_without_neurons_is_reported_when_sized() -> None:
    g = Graph("cyc")
    g.add(Input("x", features=2))
    g.add(ReLU("a", source="b"))
    g.add(ReLU("b", source="a"))
    g.add(Linear("lin", source="a", weight=np.ones((1, 2))))
    g.add(Output("o", source="lin"))
    with pytest.raises(IRVerifyError, match="form a cycle"):
        g.verify()


def test_cycle_of_float_nodes_is_rejected() -> None:
    """A relu <-> relu loop has no size and cannot be interpreted; verify must say so even
    when no node downstream asks for its size."""
    g = Graph("cyc")
    g.add(Input("x", features=2))
    g.add(ReLU("a", source="b"))
    g.add(ReLU("b", source="a"))
    g.add(Output("o", source="a"))
    with pytest.raises(IRVerifyError, match="form a cycle"):
        g.verify()


def test_cycle_through_neurons_is_legal() -> None:
    g = host_graph(window=3, features=1)
    g.add(pop("a", 1))
    g.add(pop("b", 1))
    g.add(Synapses("ab", source="a", target="b", weight=[[1]], delay=[1]))
    g.add(Synapses("ba", source="b", target="a", weight=[[1]], delay=[2]))
    g.add(Synapses("xa", source="x", target="a", weight=[[1]], delay=[0]))
    g.verify()


def test_arrays_are_coerced_to_declared_dtype() -> None:
    p = pop("p", 2, type_weights=[[1, 2, 4, -8]] * 2, core=[0, 1])
    assert p.alpha.dtype == np.int32 and p.kappa.dtype == np.uint8
    assert p.type_weights is not None and p.type_weights.dtype == np.int32
    s = AxonSynapses(
        "s", source="a", target="b", axon_source=[0], axon_type=[1], crossbar=[[1]], delay=[1]
    )
    assert s.crossbar.dtype == np.bool_ and s.axon_type.dtype == np.uint8


def test_integer_arrays_do_not_wrap_silently() -> None:
    """alpha = 2**32 + 3 does not fit the i32 field; it must be refused, not stored as 3."""
    g = host_graph(window=4)
    with pytest.raises(NscError):
        g.add(pop("p", 1, alpha=np.array([2**32 + 3])))
        g.verify()


def test_integer_arrays_do_not_truncate_fractions_silently() -> None:
    """A weight of 2.5 in an integer synapse must be refused, not stored as 2."""
    g = host_graph(window=4)
    g.add(pop("p", 1))
    with pytest.raises(NscError):
        g.add(Synapses("s", source="x", target="p", weight=[[2.5]], delay=[0]))
        g.verify()
