"""split-fanin and encode-weights at scale: the non-zero-weight implementations give exactly
the graphs of the dense reference implementations (kept below, as they were), the tree's
counting bound is computed before the dense rewrite and is sound (never above the cores the
placer uses), and trees too large for the hardware or for the dense IR are refused early
with one explained error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from passtest_util import same_nodes
from test_pass_encode_weights import integer_networks
from test_pass_split_fanin import relu_pop, wide_networks

from nsc.errors import DoesNotFitError, PassError
from nsc.ir import Graph, Input, Neurons, Output, SpikeCount, Synapses
from nsc.passes import Context, parse_pipeline, run_pipeline
from nsc.passes.encode_weights import TYPE_WEIGHTS
from nsc.passes.split_fanin import split_bound
from nsc.place import Hardware, extract_problem, lower_bound, place
from nsc_runtime import hw

# -- the dense reference implementations (the passes before they worked on non-zeros) -----


def _ref_fanin(g: Graph, target: str) -> int:
    incoming = [s for s in g.of_type(Synapses) if s.target == target]
    if not incoming:
        return 0
    return int(np.concatenate([s.weight != 0 for s in incoming], axis=1).sum(axis=1).max())


def _ref_chunks(incoming: list[Synapses], count: int, limit: int) -> list:
    union = [(n, int(i)) for n, s in enumerate(incoming) for i in np.flatnonzero(s.weight.any(0))]
    lists = [
        [(n, int(i)) for n, s in enumerate(incoming) for i in np.flatnonzero(s.weight[j])]
        for j in range(count)
    ]
    widest = max(len(x) for x in lists)
    n_parts = -(-len(union) // limit)
    if len(union) <= 2 * widest and n_parts < widest:
        rank = {src: r for r, src in enumerate(union)}
        aligned = []
        for inputs in lists:
            per_part: list[list[tuple[int, int]]] = [[] for _ in range(n_parts)]
            for src in inputs:
                per_part[rank[src] // limit].append(src)
            aligned.append(per_part)
        return aligned
    return [[x[k : k + limit] for k in range(0, len(x), limit)] for x in lists]


def _ref_split(g: Graph, pop: Neurons, limit: int) -> None:
    incoming = [s for s in g.of_type(Synapses) if s.target == pop.name]
    chunks = _ref_chunks(incoming, pop.count, limit)
    n_parts = max(len(c) for c in chunks)
    for s in incoming:
        del g.nodes[s.name]
    for k in range(n_parts):
        part_name = g.fresh_name(f"{pop.name}_part{k}")
        leak = pop.leak if k == 0 else np.zeros_like(pop.leak)
        part = Neurons.relu(part_name, alpha=pop.alpha, leak=leak)
        g.add(part)
        weights = [np.zeros_like(s.weight) for s in incoming]
        for j, neuron_chunks in enumerate(chunks):
            for n, i in neuron_chunks[k] if k < len(neuron_chunks) else []:
                weights[n][j, i] = incoming[n].weight[j, i]
        for s, w in zip(incoming, weights, strict=True):
            if not w.any():
                continue
            from_neurons = isinstance(g[s.source], Neurons)
            delay = np.where(s.delay >= 2, s.delay - 1, s.delay) if from_neurons else s.delay
            g.add(
                Synapses(
                    g.fresh_name(f"{s.name}_{k}"),
                    source=s.source,
                    target=part_name,
                    weight=w,
                    delay=delay,
                )
            )
        g.add(
            Synapses(
                g.fresh_name(f"{part_name}_out"),
                source=part_name,
                target=pop.name,
                weight=np.eye(pop.count, dtype=np.int32),
                delay=np.ones(pop.count, np.int32),
            )
        )
    g.nodes[pop.name] = pop.replace(alpha=np.ones_like(pop.alpha), leak=np.zeros_like(pop.leak))
    if any(not isinstance(g[s.source], Neurons) or (s.delay < 2).any() for s in incoming):
        for c in g.of_type(SpikeCount):
            if c.source == pop.name:
                g.nodes[c.name] = c.replace(offset=c.offset + 1)


def reference_split(graph: Graph, limit: int) -> Graph:
    g = graph.copy()
    for _ in range(64):
        wide = [p for p in g.of_type(Neurons) if _ref_fanin(g, p.name) > limit]
        if not wide:
            return g
        for pop in wide:
            _ref_split(g, pop, limit)
    raise AssertionError("did not converge")


def _ref_unit(row: np.ndarray) -> int | None:
    g = int(np.gcd.reduce(np.abs(row))) if row.any() else 1
    for c in range(min(g, hw.WEIGHT_MAX // 8), 0, -1):
        if g % c == 0 and -8 * c <= row.min(initial=0) and row.max(initial=0) <= 7 * c:
            return c
    return None


def reference_encode(graph: Graph) -> dict[str, tuple]:
    """Per synapse node: (axon_source, axon_type, crossbar); per target: type_weights."""
    out: dict[str, tuple] = {}
    by_target: dict[str, list[Synapses]] = {}
    for s in graph.of_type(Synapses):
        by_target.setdefault(s.target, []).append(s)
    for target, incoming in by_target.items():
        weights = np.concatenate([s.weight for s in incoming], axis=1).astype(np.int64)
        unit = np.array([_ref_unit(row) for row in weights], np.int64)
        out[target] = (unit[:, None] * TYPE_WEIGHTS[None, :],)
        for s in incoming:
            q = (s.weight.astype(np.int64) // unit[:, None]) & 15
            src, typ, cols = [], [], []
            for i in range(q.shape[1]):
                for t in range(4):
                    bits = (q[:, i] >> t) & 1
                    if bits.any():
                        src.append(i)
                        typ.append(t)
                        cols.append(bits.astype(bool))
            bar = np.stack(cols, axis=1) if cols else np.zeros((q.shape[0], 0), bool)
            out[s.name] = (np.asarray(src), np.asarray(typ), bar)
    return out


def run(graph: Graph, spec: str, **ctx: object) -> Graph:
    return run_pipeline(graph, parse_pipeline(spec), Context(**ctx))


# -- exactly the reference graphs -----------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(wide_networks())
def test_split_equals_the_dense_reference(case: tuple[Graph, int, np.ndarray]) -> None:
    graph, limit, _ = case
    split = run(graph, f"split-fanin{{max={limit}}}")
    assert same_nodes(split, reference_split(graph, limit))
    assert list(split.nodes) == list(reference_split(graph, limit).nodes)  # same names, order


@settings(max_examples=60, deadline=None)
@given(integer_networks())
def test_encode_equals_the_dense_reference(case: tuple[Graph, np.ndarray]) -> None:
    graph = case[0]
    expected = reference_encode(graph)
    encoded = run(graph, "encode-weights")
    for name, want in expected.items():
        node = encoded[name]
        if len(want) == 1:
            assert np.array_equal(node.type_weights, want[0])
        else:
            assert np.array_equal(node.axon_source, want[0])
            assert np.array_equal(node.axon_type, want[1])
            assert np.array_equal(node.crossbar, want[2])


# -- the tree's bound: computed before the rewrite, sound ------------------------------------


@settings(max_examples=40, deadline=None)
@given(wide_networks())
def test_tree_bound_is_the_counting_bound_and_sound(case: tuple[Graph, int, np.ndarray]) -> None:
    """split_bound (from non-zero weights, before the tree exists) equals the counting bound
    of the placement problem of the encoded tree, and never exceeds the cores the placer
    uses."""
    graph, limit, _ = case
    bound = split_bound(graph, limit)
    encoded = run(graph, f"split-fanin{{max={limit}}},encode-weights", hardware=Hardware())
    try:
        problem = extract_problem(encoded)
    except DoesNotFitError:  # one source with two delays (h -> part and h -> o): not placeable
        assume(False)
    counted = lower_bound(problem)
    assert bound is not None
    assert bound.cores == counted.cores
    placement = place(encoded, Hardware(), time_limit=1.0, effort="fast")
    assert bound.cores <= placement.report.cores


def _recurrent_layer(n_in: int, hidden: int, density: float, seed: int = 0) -> Graph:
    """Integer graph of one recurrent ReLU layer with random weights in [-8, 7]."""
    rng = np.random.default_rng(seed)
    g = Graph("rnn", attrs={"window": 15})
    g.add(Input("x", features=n_in, levels=16))
    g.add(relu_pop("rnn", hidden))

    def weights(shape: tuple[int, int]) -> np.ndarray:
        w = rng.integers(-8, 8, size=shape, dtype=np.int32)
        return np.where(rng.random(shape) < density, w, 0).astype(np.int32)

    g.add(
        Synapses(
            "xh",
            source="x",
            target="rnn",
            weight=weights((hidden, n_in)),
            delay=np.zeros(n_in, np.int32),
        )
    )
    g.add(
        Synapses(
            "hh",
            source="rnn",
            target="rnn",
            weight=weights((hidden, hidden)),
            delay=np.full(hidden, 15, np.int32),
        )
    )
    g.add(SpikeCount("count", source="rnn"))
    g.add(Output("out", source="count"))
    g.verify()
    return g


def test_rnn_of_4096_hidden_is_refused_before_the_dense_tree() -> None:
    """The issue's case (4,096 hidden ReLU units, default max 64): its tree fits one chip by
    the counting bound, but the dense IR would need 2^31 weight cells; split-fanin says so
    before allocating any of them."""
    graph = _recurrent_layer(16, 4096, density=0.5)
    with pytest.raises(PassError) as info:
        run(graph, "split-fanin{max=64}", hardware=Hardware())
    message = str(info.value)
    assert "split-fanin: the tree for %rnn would store" in message
    assert "over the compiler's limit of 1,073,741,824 cells" in message
    cores = int(re.search(r"it needs at least ([\d,]+) cores", message)[1].replace(",", ""))
    assert cores <= Hardware().n_cores  # the hardware is not what refuses it
    assert "Use fewer hidden units" in message


def test_tree_larger_than_the_hardware_is_refused_naming_the_bound() -> None:
    """A feed-forward layer (1,024 inputs, 1,400 neurons, max=2) whose tree needs more cores
    than one chip holds, although the layer alone is 1,400 neurons: found by the tree's
    counting bound before the dense rewrite and before placement."""
    graph = _recurrent_layer(1024, 1400, density=1.0)
    del graph.nodes["hh"]
    with pytest.raises(DoesNotFitError) as info:
        run(graph, "split-fanin{max=2}", hardware=Hardware())
    message = str(info.value)
    assert "after split-fanin the network needs at least 5,642 cores" in message
    assert "but 1x1 chip(s) hold 4,096" in message
    assert "Bound (from the split graph, before the dense rewrite and placement): max(" in message
    assert "Use --chips 1x2" in message
