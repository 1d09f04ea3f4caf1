"""Placement at scale: synthetic layered recurrent networks of 10^3..10^6 neurons.

Each network has ``layers`` layers of *modules* of ``module`` neurons (48). A module's neurons
listen to a pool of exactly 256 axon keys: type 0 of its own neurons (recurrence, 48 keys),
types 1-3 of the neurons of the previous layer's modules ``b`` and ``b + 1`` (the neighbourhood,
144 keys: each previous-layer neuron sends these three types to one of the two) and 64 host
lines (the first layer takes host lines for its whole feed-forward part). Each neuron listens to
every key of its module's pool with probability 1/4 (fan-in about 64 axons). Neuron ids are
shuffled within each layer, so the placer has to find the modules.

A module on one core uses exactly 256 axons, and no key is needed on two cores, so the counting
lower bound equals the number of modules: the bound is tight and ``cores / lower_bound`` is
the placer's real gap. Neuron slots are not tight (48 neurons x 4 routes = 192 of 256).

``--family window`` is a harder, slot-bound family with no module structure: ``layers`` layers
of equal width, neuron ``j`` of a layer listening to all 4 types of the 49 neurons ``j-24 ..
j+24`` of the previous layer (host lines for the first). Neighbouring windows overlap, every
source is heard on several cores, so copies dominate and the counting bound (which assumes
each key's listeners share a core) is far from tight; the order bound sees that every core
pays one whole window of keys (docs/placement.md, "Lower bound").

``--family tree`` is what split-fanin makes of stacked recurrent layers (docs/conversion.md):
``layers`` Elman layers of ``hidden`` ReLU units (2,048 by default), layer 0 fed by 64 host
lines and layer ``l`` by layer ``l - 1``; each layer's sources (its input and its own hidden
units) are cut into aligned chunks of 64, chunk ``k`` feeding part population ``k`` (one part
neuron per hidden unit, listening to every source of its chunk) and every hidden unit
re-emitting its parts' spikes (listening to type 0 of its own part neurons). Weights are one
type bit each here (64 keys per part neuron; 16-level weights set about 2 of 4 bits, twice
the entries), so a million neurons fit the machine's memory. Part neurons of one chunk share
one pool of at most 256 keys; every hidden unit is heard by a whole part population (about
``hidden`` neurons), so it needs copies on every core that population spans.

Prints one line per size, then as the LAST line one JSON object ``{"results": [{family,
neurons, cores, lower_bound, counting_bound, order_bound, shares_bound, gap, seconds,
hops_vs_random, chip_traffic, random_chip_traffic, chips}, ...]}``: ``lower_bound`` is the
placer's proven bound, the largest of the counting, order and shares bounds (docs/placement.md,
"Lower bound"; ``shares_bound`` null when the start met the cheaper ones), ``gap = cores /
lower_bound - 1`` an upper bound on the true gap, ``chip_traffic`` the spikes per tick on
routes between chips and ``random_chip_traffic`` its expected value for a random placement on
the same cores.

    PYTHONPATH=.:runtime .venv/bin/python benchmarks/place_scale.py [--sizes 1000,10000]
        [--family modular|window|tree] [--chips RxC] [--radius 24] [--time-limit 10]
        [--seed 0] [--effort normal]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from nsc.place import Hardware, PlacementProblem, lower_bound, place
from nsc.place.bounds import suggest_chips
from nsc_runtime import hw

MODULE = 48
LAYERS = 8
HOST_PER_MODULE = 64
AXONS = hw.AXONS_PER_CORE


def synthetic(neurons: int, seed: int = 0) -> PlacementProblem:
    """The network of the module docstring with about ``neurons`` neurons."""
    rng = np.random.default_rng(seed)
    layers = LAYERS if neurons >= LAYERS * MODULE * 2 else 2
    mods = max(2, -(-neurons // (MODULE * layers)))
    per_layer = mods * MODULE
    n = per_layer * layers
    # neuron id of slot (layer, module, position): shuffled within each layer
    ids = np.concatenate(
        [layer * per_layer + rng.permutation(per_layer) for layer in range(layers)]
    )
    ids = ids.reshape(layers, mods, MODULE)
    ff_host = AXONS - MODULE  # first layer: host lines instead of recurrence + neighbourhood
    host_per_layer0 = mods * ff_host
    host_lines = host_per_layer0 + (layers - 1) * mods * HOST_PER_MODULE
    n_sources = n + host_lines
    host = n + np.arange(host_lines, dtype=np.int64)
    rows, keys = [], []
    host_used = 0
    for layer in range(layers):
        own = ids[layer].astype(np.int64)
        recurrent = own * 4  # type 0 of the module's own neurons: (mods, 48)
        if layer == 0:
            feed = host[:host_per_layer0].reshape(mods, ff_host) * 4
            host_used = host_per_layer0
            pool = np.concatenate([recurrent, feed], axis=1)
        else:
            prev = ids[layer - 1].astype(np.int64)
            ff = (prev[:, :, None] * 4 + np.arange(1, 4)).reshape(mods, -1)  # (mods, 144)
            ff = rng.permuted(ff, axis=1)
            half = ff.shape[1] // 2
            neighbourhood = np.concatenate([ff[:, :half], np.roll(ff[:, half:], 1, axis=0)], 1)
            lines = host[host_used : host_used + mods * HOST_PER_MODULE]
            host_used += mods * HOST_PER_MODULE
            pool = np.concatenate(
                [recurrent, neighbourhood, lines.reshape(mods, HOST_PER_MODULE) * 4], axis=1
            )
        pool.sort(axis=1)
        listen = rng.integers(0, 4, size=(mods, MODULE, AXONS), dtype=np.uint8) == 0
        listen[:, 0, :] |= ~listen.any(axis=1)  # every key of the pool gets a listener
        m, _, a = np.nonzero(listen)
        rows.append(listen.sum(axis=2).reshape(-1))
        keys.append(pool[m, a])
    # entries are grouped by (layer, module, position) with sorted keys: regroup by neuron id
    length = np.concatenate(rows)
    key = np.concatenate(keys)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    order = np.argsort(ids.reshape(-1), kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(length[order], out=ptr[1:])
    gather = np.repeat(start[order] - ptr[:-1], length[order]) + np.arange(ptr[-1])
    return PlacementProblem(n, ptr, key[gather], n_sources)


def window(neurons: int, radius: int = 24) -> PlacementProblem:
    """The ``--family window`` network of the module docstring with about ``neurons``."""
    width = max(2 * radius + 1, -(-neurons // LAYERS))
    n = width * LAYERS
    j = np.arange(width)[:, None] + np.arange(-radius, radius + 1)[None, :]
    inside = (j >= 0) & (j < width)
    rows, keys = [], []
    for layer in range(LAYERS):
        base = n if layer == 0 else (layer - 1) * width  # host lines feed the first layer
        sources = base + j
        row = layer * width + np.repeat(np.arange(width), inside.sum(axis=1))
        rows.append(np.repeat(row, 4))
        keys.append((sources[inside][:, None] * 4 + np.arange(4)).reshape(-1))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(np.concatenate(rows), minlength=n), out=ptr[1:])
    return PlacementProblem(n, ptr, np.concatenate(keys), n + width)


TREE_HIDDEN = 2048
TREE_HOST = 64
FANIN = 64  # split-fanin's default max


def tree(neurons: int, hidden: int = TREE_HIDDEN, seed: int = 0) -> PlacementProblem:
    """The ``--family tree`` network of the module docstring with about ``neurons``."""
    rng = np.random.default_rng(seed)
    sizes = []  # per layer: (input width, parts)
    total, width = 0, TREE_HOST
    while total < neurons or not sizes:
        parts = -(-(width + hidden) // FANIN)
        if parts > FANIN:
            raise ValueError(f"hidden={hidden} needs a second tree level; use at most 4,032")
        sizes.append((width, parts))
        total += hidden * (parts + 1)
        width = hidden
    n = total
    n_host = TREE_HOST
    rows, keys = [], []
    start = 0
    prev_hidden = -1
    for layer, (width, parts) in enumerate(sizes):
        hidden_id = start + hidden * parts  # the re-emitters follow the layer's parts
        inputs = (n + np.arange(n_host) if layer == 0 else prev_hidden + np.arange(width)).astype(
            np.int64
        )
        sources = np.concatenate([inputs, hidden_id + np.arange(hidden)])
        for k in range(parts):
            chunk = sources[k * FANIN : (k + 1) * FANIN]
            bit = rng.integers(0, 4, size=(hidden, chunk.size))  # one type per weight
            rows.append(np.repeat(start + k * hidden + np.arange(hidden), chunk.size))
            keys.append((chunk[None, :] * 4 + bit).reshape(-1))
        part_of = start + np.arange(parts)[None, :] * hidden + np.arange(hidden)[:, None]
        rows.append(np.repeat(hidden_id + np.arange(hidden), parts))
        keys.append((part_of * 4).reshape(-1))
        prev_hidden = hidden_id
        start = hidden_id + hidden
    row, key = np.concatenate(rows), np.concatenate(keys)
    order = np.lexsort((key, row))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=ptr[1:])
    return PlacementProblem(n, ptr, key[order], n + n_host)


def run(
    neurons: int,
    family: str,
    time_limit: float,
    seed: int,
    effort: str = "normal",
    chips: str | None = None,
    radius: int = 24,
) -> dict[str, float | int | str]:
    started = time.perf_counter()
    if family == "modular":
        problem = synthetic(neurons, seed)
    elif family == "window":
        problem = window(neurons, radius)
    else:
        problem = tree(neurons, seed=seed)
    built = time.perf_counter() - started
    bound = lower_bound(problem)
    if chips is None:
        room = 1.25 if family == "modular" else 8.0  # the others need many more cores
        chips = suggest_chips(int(bound.cores * room) + 1)
    hardware = Hardware.parse(chips)
    placement = place(problem, hardware, time_limit=time_limit, seed=seed, effort=effort)
    report = placement.report
    print(
        f"{family:>8} {problem.n_neurons:>9,} neurons  {report.cores:>6,} cores  bound "
        f"{report.lower_bound:>6,} ({_bounds(report.lower_bounds)})  gap {report.gap:6.2%}  "
        f"place {report.seconds:6.1f} s  "
        f"(build {built:.1f} s)  traffic/random {report.hops_vs_random:.3f}  between chips "
        f"{report.chip_traffic:,.0f} (random {report.random_chip_traffic:,.0f}) spikes/tick  "
        f"chips {hardware}",
        file=sys.stderr,
    )
    return {
        "family": family,
        "neurons": problem.n_neurons,
        "cores": report.cores,
        "lower_bound": report.lower_bound,
        "counting_bound": report.lower_bounds.get("counting"),
        "order_bound": report.lower_bounds.get("order"),
        "shares_bound": report.lower_bounds.get("shares"),
        "gap": round(report.gap, 5),
        "seconds": round(report.seconds, 2),
        "hops_vs_random": round(report.hops_vs_random, 4),
        "chip_traffic": round(report.chip_traffic, 1),
        "random_chip_traffic": round(report.random_chip_traffic, 1),
        "chips": str(hardware),
    }


def _bounds(bounds: dict[str, int]) -> str:
    return ", ".join(f"{name} {value:,}" for name, value in bounds.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--family", choices=("modular", "window", "tree"), default="modular")
    parser.add_argument("--chips", help="chip grid RxC (default: room for the bound, x8)")
    parser.add_argument("--radius", type=int, default=24, help="window family: half width")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--effort", default="normal", help="fast, normal, max or a number")
    args = parser.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    results = [
        run(size, args.family, args.time_limit, args.seed, args.effort, args.chips, args.radius)
        for size in sizes
    ]
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
