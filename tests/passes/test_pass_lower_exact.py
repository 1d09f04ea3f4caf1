"""replicate-fanout and lower-to-cores on index arrays give exactly what the per-axon
implementation gave (kept in lower_reference.py): the same nodes, in the same order, with the
same arrays and dtypes, the same errors with the same messages, and byte-identical corelets,
on random small graphs (several populations, recurrent and parallel synapse nodes, host
inputs, random delays and placements, overflowing cores) and on compiled models (an Elman
network with a split-fanin tree, a stacked one, a window of host layers)."""

from __future__ import annotations

from typing import Any

import lower_reference as ref
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from passtest_util import INTEGER, activities, place, rnn_network, run

from nsc.backend import to_corelet
from nsc.errors import NscError
from nsc.frontend import to_graph
from nsc.ir import Graph, Input, Neurons, Output, SpikeCount, Synapses
from nsc.passes import Context, plan_pipeline, run_pipeline
from nsc.passes.lower import LowerToCores, ReplicateFanout
from nsc.place import Hardware
from nsc.text import print_ir
from nsc_runtime import format as corelet_format


def outcome(fn: Any, graph: Graph) -> Graph | tuple[type, str]:
    try:
        return fn(graph)
    except NscError as err:
        return (type(err), str(err))


def new_replicate(graph: Graph) -> Graph:
    return ReplicateFanout().apply(graph, Context())


def new_lower(graph: Graph) -> Graph:
    return LowerToCores().apply(graph, Context())


def assert_same(a: Graph | tuple[type, str], b: Graph | tuple[type, str]) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert list(a.nodes) == list(b.nodes)
    for name in a.nodes:
        assert a[name].same_as(b[name]), name
    assert a.same_as(b)


def assert_both_passes_same(placed: Graph, chips: tuple[int, int] = (1, 1)) -> Graph | None:
    """Both implementations on ``placed``: replicate, then lower; the same graphs or errors,
    and the same corelet bytes. Returns the lowered graph (None if a pass refused)."""
    rep_old, rep_new = outcome(ref.replicate_fanout, placed), outcome(new_replicate, placed)
    assert_same(rep_old, rep_new)
    # lower-to-cores also on the unreplicated graph: same result, or the same refusal
    assert_same(outcome(ref.lower_to_cores, placed), outcome(new_lower, placed))
    if isinstance(rep_old, tuple):
        return None
    assert isinstance(rep_new, Graph)
    low_old, low_new = outcome(ref.lower_to_cores, rep_old), outcome(new_lower, rep_new)
    assert_same(low_old, low_new)
    if isinstance(low_old, tuple):
        return None
    assert isinstance(low_new, Graph)
    assert print_ir(low_old) == print_ir(low_new)
    old_bytes = corelet_format.dumps(to_corelet(low_old, chips))
    assert old_bytes == corelet_format.dumps(to_corelet(low_new, chips))
    return low_new


def random_placed(seed: int, mode: str) -> Graph:
    """Host input -> 1 to 3 populations, with random synapse nodes between any two of them
    (self-loops and parallel nodes included), weights in [-8, 7] (so every pattern encodes),
    random delays, neurons on random cores; sometimes wide (many host lines: axon overflow)
    or big (over 256 neurons on a core)."""
    rng = np.random.default_rng(seed)
    features = int(rng.integers(60, 80)) if mode == "wide" else int(rng.integers(1, 7))
    n_pops = int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 13)) for _ in range(n_pops)]
    if mode == "big":
        sizes[int(rng.integers(n_pops))] = int(rng.integers(200, 300))
    g = Graph("rand", attrs={"window": 4})
    g.add(Input("x", features=features, levels=16))
    names = [f"p{k}" for k in range(n_pops)]
    for name, n in zip(names, sizes, strict=True):
        g.add(Neurons.relu(name, alpha=rng.integers(1, 4, n), leak=rng.integers(-1, 2, n)))
    density = float(rng.uniform(0.1, 0.9))
    n_edges = int(rng.integers(1, 2 * n_pops + 3))
    for k in range(n_edges):
        tgt = int(rng.integers(n_pops))
        src = "x" if k < n_pops or rng.random() < 0.3 else names[int(rng.integers(n_pops))]
        tgt_name = names[k] if k < n_pops else names[tgt]
        n_src = features if src == "x" else sizes[names.index(src)]
        w = rng.integers(-8, 8, (sizes[names.index(tgt_name)], n_src))
        w[rng.random(w.shape) > density] = 0
        lo = 0 if src == "x" else 1
        delay = rng.integers(lo, 5, n_src)
        g.add(Synapses(f"s{k}", source=src, target=tgt_name, weight=w, delay=delay))
    g.add(SpikeCount("count", source=names[-1], offset=int(rng.integers(0, 4))))
    g.add(Output("out", source="count"))
    encoded = run(g, "encode-weights")
    n_cores = int(rng.integers(1, 5))
    spread = 2 if mode == "big" else n_cores
    cores = {
        name: rng.choice(np.arange(0, 2 * n_cores, 2)[:spread], n)
        if rng.random() < 0.3
        # gaps in core numbers now and then
        else rng.integers(0, spread, n)
        for name, n in zip(names, sizes, strict=True)
    }
    return place(encoded, cores)


MODES = ["small"] * 6 + ["wide", "big"]


@st.composite
def placed_graphs(draw: st.DrawFn) -> Graph:
    return random_placed(draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from(MODES)))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(placed_graphs())
def test_random_graphs_replicate_and_lower_exactly_as_before(placed: Graph) -> None:
    assert_both_passes_same(placed)


def test_the_random_graphs_reach_every_outcome() -> None:
    """Guard against a vacuous property: the generator produces graphs that lower, graphs
    that need copies, and each of the three refusals."""
    seen: set[str] = set()
    for seed in range(40):
        placed = random_placed(seed, MODES[seed % len(MODES)])
        rep = outcome(ref.replicate_fanout, placed)
        assert isinstance(rep, Graph)
        if any(p.name.endswith("_fan") for p in rep.of_type(Neurons)):
            seen.add("copies")
        low = outcome(ref.lower_to_cores, rep)
        seen.add("lowered" if isinstance(low, Graph) else low[1])
        unrep = outcome(ref.lower_to_cores, placed)
        if isinstance(unrep, tuple):
            seen.add(unrep[1])
    assert {"copies", "lowered"} <= seen
    for refusal in ("needs two destinations", "more than 256 axons", "more than 256 neurons"):
        assert any(refusal in s for s in seen), refusal


# -- compiled models ------------------------------------------------------------------------


class Elman(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int, pre: int = 0) -> None:
        super().__init__()
        self.pre = torch.nn.Linear(n_in, pre) if pre else None
        self.rnn = torch.nn.RNN(pre or n_in, hidden, nonlinearity="relu", batch_first=True)
        self.fc = torch.nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre is not None:
            x = torch.relu(self.pre(x))
        return self.fc(self.rnn(x)[0][:, -1])


def placed_model(model: torch.nn.Module, n_in: int, chips: tuple[int, int]) -> Graph:
    """``nsc.compile``'s planned pipeline on ``model`` up to and including place."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(4, 5, n_in)).astype(np.float64)
    graph = to_graph(model, x)
    ctx = Context(example_input=x, hardware=Hardware(chips=chips), time_limit=5)
    for p in plan_pipeline(graph):
        if p.name == "replicate-fanout":
            return graph
        graph = run_pipeline(graph, [p], ctx)
    raise AssertionError("the pipeline has no replicate-fanout")


@pytest.mark.parametrize(
    ("n_in", "hidden", "pre", "chips"),
    [(6, 20, 0, (1, 1)), (16, 120, 0, (1, 1)), (10, 70, 12, (1, 1)), (12, 90, 0, (1, 2))],
)
def test_compiled_models_give_the_same_corelet_bytes(
    n_in: int, hidden: int, pre: int, chips: tuple[int, int]
) -> None:
    """Recurrent nets from torch through the planned pipeline; 16 x 120 and 12 x 90 have more
    than 64 inputs per hidden unit, so split-fanin builds a tree of part populations."""
    torch.manual_seed(n_in * hidden)
    placed = placed_model(Elman(n_in, hidden, pre), n_in, chips)
    split = any("_part" in p.name for p in placed.of_type(Neurons))
    assert split == (n_in + hidden > 64 or pre + hidden > 64)
    lowered = assert_both_passes_same(placed, chips)
    assert lowered is not None


def test_hand_placed_split_tree_and_stacked_layers_match() -> None:
    net = rnn_network(20, 16, seed=3, pre=12, readout=3)
    integer = run(net, INTEGER.replace("max=64", "max=10"), activities((8, 4, 20), 3))
    assert any("_part" in p.name for p in integer.of_type(Neurons))
    rng = np.random.default_rng(0)
    lowered = []
    for spread in (1, 3, 6, 12):  # one core overflows its axons; the others lower
        cores = {p.name: rng.integers(0, spread, p.count) for p in integer.of_type(Neurons)}
        lowered.append(assert_both_passes_same(place(integer, cores)) is not None)
    assert lowered == [False, True, True, True]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(0, 70),
    st.floats(0, 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["c", "f", "step"]),
)
def test_set_cells_is_nonzero(rows: int, cols: int, density: float, seed: int, layout: str) -> None:
    """The word-at-a-time scan gives np.nonzero's cells, in its order, for any shape (sizes
    not a multiple of 8 included), density and memory layout."""
    from nsc.passes.lower import _set_cells

    rng = np.random.default_rng(seed)
    base = rng.random((rows, 2 * cols if layout == "step" else cols)) < density * density
    m = {"c": base, "f": np.asfortranarray(base), "step": base[:, ::2]}[layout]
    got, want = _set_cells(m), np.nonzero(m)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want, strict=True))
