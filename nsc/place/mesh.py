"""Core-to-mesh assignment: where each core sits, to keep heavy routes short.

Cores arrive numbered so that consecutive numbers are close in the partition hierarchy. The
heuristic lays that sequence along a locality-preserving curve: a Hilbert curve inside each
64 x 64 chip, chips visited row by row in serpentine order, so consecutive cores are mesh
neighbours and chip crossings are rare.

Up to :data:`MESH_EXACT_MAX` cores, the best of three layouts (the curve, and the traffic
order in serpentine rows of ``ceil(C/2)`` and ``ceil(sqrt(C))`` cells), each improved by a
local search (single-core moves and swaps in a ``C x C`` box at the chip origin), is the
start, and CP-SAT, when the budget allows, minimizes ``sum rate(c, d) * hops(c, d)`` exactly
over positions in that box. The box loses nothing: in an optimal layout every row and column
of the bounding box holds a core (else moving the cores on one side of an empty line one step
closer shortens every route across it), so the box is at most ``C x C``, and translating it to
the origin changes no distance. With at most two cores the
adjacent pair ``(0,0), (1,0)`` is optimal without a solve.
"""

from __future__ import annotations

import numpy as np
import pymetis
from ortools.sat.python import cp_model

from nsc_runtime import hw

from .cpsat import RATE_SCALE, solve
from .hardware import Hardware

MESH_EXACT_MAX = 8
MESH_LOCAL_PASSES = 20  # passes of the local search over all cores, at most


def hilbert_curve(order: int) -> np.ndarray:
    """``(4**order, 2)`` positions ``(x, y)`` of a Hilbert curve over a ``2**order`` square,
    starting at ``(0, 0)``."""
    side = 1 << order
    d = np.arange(side * side, dtype=np.int64)
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    t = d.copy()
    s = 1
    while s < side:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), s - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), s - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return np.stack([x, y], axis=1)


def curve_positions(hardware: Hardware, n_cores: int | None = None) -> np.ndarray:
    """The first ``n_cores`` core positions of the hardware in curve order (module docstring;
    all of them when ``None``). Only the chips those cores need are laid out, so the work and
    memory follow the network, not the declared hardware."""
    side = hw.CORES_PER_CHIP_SIDE
    per_chip = side * side
    total = hardware.n_cores if n_cores is None else min(n_cores, hardware.n_cores)
    if total <= 0:
        return np.zeros((0, 2), np.int32)
    chip_curve = hilbert_curve(int(np.log2(side))).astype(np.int64)
    cols = hardware.chips[1]
    out = []
    for k in range(-(-total // per_chip)):
        r, c = divmod(k, cols)
        if r % 2:
            c = cols - 1 - c
        out.append(chip_curve + np.array([c * side, r * side], np.int64))
    positions = np.concatenate(out)[:total]
    if positions.max(initial=0) > np.iinfo(np.int32).max:
        raise ValueError("mesh position past int32: too many chips")
    return positions.astype(np.int32)


def assign_positions(
    n_cores: int,
    pairs: np.ndarray,
    pair_rate: np.ndarray,
    hardware: Hardware,
    *,
    time_limit: float,
    seed: int,
) -> tuple[np.ndarray, str]:
    """Positions ``(C, 2)`` for cores ``0..C-1`` and how they were found: ``OPTIMAL``
    (proven), ``FEASIBLE`` (CP-SAT without proof) or ``HEURISTIC`` (curve order, then, up to
    :data:`MESH_EXACT_MAX` cores, local search). ``time_limit <= 0`` skips CP-SAT."""
    curve = curve_positions(hardware, n_cores)
    if n_cores <= 1 or pairs.size == 0:
        return curve.copy(), "OPTIMAL"
    if n_cores == 2:
        return np.array([[0, 0], [1, 0]], np.int32), "OPTIMAL"
    weight = _symmetric_weights(n_cores, pairs, pair_rate)
    order = traffic_order(n_cores, *weight, seed=seed)
    positions = np.empty_like(curve)
    positions[order] = curve
    if n_cores > MESH_EXACT_MAX:
        return positions, "HEURISTIC"
    best, best_cost = positions, None
    for start in [positions, *_snakes(n_cores, order)]:
        found = local_search(n_cores, *weight, start)
        cost = _layout_cost(found, *weight)
        if best_cost is None or cost < best_cost:
            best, best_cost = found, cost
    positions = best
    if time_limit <= 0:
        return positions, "HEURISTIC"
    return _exact_positions(n_cores, *weight, positions, time_limit, seed)


def _snakes(n_cores: int, order: np.ndarray) -> list[np.ndarray]:
    """The cores in ``order`` laid row by row, every other row reversed, in rows of
    ``ceil(C / 2)`` and of ``ceil(sqrt(C))`` cells: more starts for the local search."""
    out = []
    for width in sorted({-(-n_cores // 2), int(np.ceil(np.sqrt(n_cores)))}, reverse=True):
        k = np.arange(n_cores)
        row, col = k // width, k % width
        col = np.where(row % 2 == 1, width - 1 - col, col)
        layout = np.empty((n_cores, 2), np.int32)
        layout[order] = np.stack([col, row], axis=1)
        out.append(layout)
    return out


def _layout_cost(positions: np.ndarray, a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> int:
    hops = np.abs(positions[a].astype(np.int64) - positions[b]).sum(axis=1)
    return int((weight * hops).sum())


def local_search(
    n_cores: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Improve a layout of a few cores (all on the first chip) by moving one core to a free
    cell of the ``C x C`` box at the origin, or swapping two cores, while that strictly lowers
    ``sum weight * hops``; first improvement in a fixed order, so it is deterministic."""
    w = np.zeros((n_cores, n_cores), np.int64)
    np.add.at(w, (a, b), weight)
    w += w.T
    pos = start.astype(np.int64) - start.min(axis=0)
    if pos.max() >= n_cores:
        return start
    box = n_cores
    cells = np.stack(np.meshgrid(np.arange(box), np.arange(box), indexing="ij"), -1).reshape(-1, 2)

    def cost_at(c: int, cell: np.ndarray, positions: np.ndarray) -> int:
        return int((w[c] * np.abs(positions - cell).sum(axis=1)).sum())

    for _ in range(MESH_LOCAL_PASSES):
        improved = False
        for c in range(n_cores):
            here = cost_at(c, pos[c], pos)
            taken = {tuple(p) for p in pos.tolist()}
            for cell in cells:
                if tuple(cell.tolist()) in taken:
                    continue
                if cost_at(c, cell, pos) < here:
                    pos[c] = cell
                    here = cost_at(c, cell, pos)
                    taken = {tuple(p) for p in pos.tolist()}
                    improved = True
            for d in range(c + 1, n_cores):
                trial = pos.copy()
                trial[[c, d]] = trial[[d, c]]
                before = (
                    cost_at(c, pos[c], pos)
                    + cost_at(d, pos[d], pos)
                    - 2 * w[c, d] * int(np.abs(pos[c] - pos[d]).sum())
                )
                after = (
                    cost_at(c, trial[c], trial)
                    + cost_at(d, trial[d], trial)
                    - 2 * w[c, d] * int(np.abs(trial[c] - trial[d]).sum())
                )
                if after < before:
                    pos = trial
                    improved = True
        if not improved:
            break
    return (pos - pos.min(axis=0)).astype(np.int32)


def _symmetric_weights(
    n_cores: int, pairs: np.ndarray, pair_rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected core pairs ``(a, b)``, ``a < b``, with integer weights 1..RATE_SCALE."""
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    code, inverse = np.unique(lo * n_cores + hi, return_inverse=True)
    rate = np.bincount(inverse.reshape(-1), weights=pair_rate)
    weight = np.maximum(1, np.rint(rate / rate.max() * RATE_SCALE)).astype(np.int64)
    return code // n_cores, code % n_cores, weight


def traffic_order(
    n_cores: int, a: np.ndarray, b: np.ndarray, weight: np.ndarray, *, seed: int
) -> np.ndarray:
    """Cores in an order where heavy traffic pairs are close: METIS recursive bisection of
    the core traffic graph into pairs of cores, parts in METIS's hierarchical numbering."""
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    ew = np.concatenate([weight, weight])
    order = np.argsort(src, kind="stable")
    xadj = np.zeros(n_cores + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n_cores), out=xadj[1:])
    idx = pymetis.zero_copy_dtype()
    _, membership = pymetis.part_graph(
        max(2, n_cores // 2),
        adjacency=pymetis.CSRAdjacency(
            adj_starts=xadj.astype(idx), adjacent=dst[order].astype(idx)
        ),
        eweights=ew[order].astype(idx),
        recursive=True,
        options=pymetis.Options(ufactor=1, seed=seed),
    )
    return np.lexsort((np.arange(n_cores), np.asarray(membership)))


def _exact_positions(
    n_cores: int,
    a: np.ndarray,
    b: np.ndarray,
    weight: np.ndarray,
    start: np.ndarray,
    time_limit: float,
    seed: int,
) -> tuple[np.ndarray, str]:
    box = n_cores
    m = cp_model.CpModel()
    px = [m.new_int_var(0, box - 1, f"px{c}") for c in range(n_cores)]
    py = [m.new_int_var(0, box - 1, f"py{c}") for c in range(n_cores)]
    m.add_all_different([px[c] * box + py[c] for c in range(n_cores)])
    m.add_min_equality(0, px)
    m.add_min_equality(0, py)
    terms = []
    for i, j, w in zip(a.tolist(), b.tolist(), weight.tolist(), strict=True):
        dx = m.new_int_var(0, box - 1, f"dx{i}_{j}")
        dy = m.new_int_var(0, box - 1, f"dy{i}_{j}")
        m.add_abs_equality(dx, px[i] - px[j])
        m.add_abs_equality(dy, py[i] - py[j])
        terms.append(w * (dx + dy))
    m.minimize(sum(terms))
    shifted = start - start.min(axis=0)
    if shifted.max() < box:
        for c in range(n_cores):
            m.add_hint(px[c], int(shifted[c, 0]))
            m.add_hint(py[c], int(shifted[c, 1]))
    result = solve(m, time_limit, seed)
    if not result.found:
        return start, "HEURISTIC"
    positions = np.array(
        [[result.solver.value(px[c]), result.solver.value(py[c])] for c in range(n_cores)],
        np.int32,
    )
    return positions, result.status
