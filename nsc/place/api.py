"""``place``: neurons to cores to mesh positions; ``apply_placement``: record it in the IR."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import DoesNotFitError
from ..ir import Graph, Neurons
from .bounds import check_fits, lower_bound, suggest_chips
from .exact import EXACT_MAX_NEURONS, exact_applies, solve_exact
from .hardware import Hardware
from .lns import refine
from .mesh import assign_positions
from .partition import partition
from .problem import PlacementProblem, extract_problem
from .report import Placement, PlacementReport
from .usage import core_pairs, evaluate, random_traffic, traffic

# shares of time_limit: compaction (large problems; small ones go on to the exact model), the
# two exact stages, the mesh assignment. Fixed shares, not remaining wall time, so that the
# result does not depend on the machine's load.
COMPACT_SHARE, SMALL_COMPACT_SHARE = 0.6, 0.05
CORES_SHARE, CUT_SHARE, MESH_SHARE = 0.4, 0.3, 0.2
LNS_SHARE = 0.3  # CP-SAT large-neighbourhood refinement (large problems only)


def place(
    graph_or_problem: Graph | PlacementProblem,
    hardware: Hardware | None = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    rates: np.ndarray | None = None,
) -> Placement:
    """Place every neuron on a core and every core on the mesh (docs/placement.md).

    Small problems (up to 512 neurons and a few cores) are solved exactly with CP-SAT and
    proven optimal when ``time_limit`` allows; larger ones take the partition path. ``rates``
    (spikes per tick per source, length ``n_sources``) weight the traffic; ``None`` keeps the
    problem's rates, or uniform ones. ``time_limit`` bounds the optional improvement steps;
    extraction, partition and repair always finish. Deterministic for a given input and seed.

    Raises :class:`DoesNotFitError` with the reason and a remedy when the network cannot fit.
    """
    start = time.perf_counter()
    hardware = hardware or Hardware()
    problem = _as_problem(graph_or_problem, rates)
    bound = lower_bound(problem)
    check_fits(problem, hardware, bound)
    small = problem.n_neurons <= EXACT_MAX_NEURONS
    share = SMALL_COMPACT_SHARE if small else COMPACT_SHARE
    core_of, n_cores = partition(problem, bound, seed=seed, compact_seconds=share * time_limit)
    lb, how = bound.cores, bound.how
    stages = {"cores": "OPTIMAL" if n_cores == lb else "HEURISTIC", "cut": "HEURISTIC"}
    method, cut_bound = "partition", None
    lns_info: dict[str, float | int] = {}
    if not small and n_cores > 1:
        refined = refine(problem, core_of, n_cores, seconds=LNS_SHARE * time_limit, seed=seed)
        lns_info = {
            "rounds": refined.rounds,
            "moves": refined.moves,
            "cores_before": refined.cores_before,
            "cut_before": refined.cut_before,
            "cut_after": refined.cut_after,
            "work": refined.work,
        }
        core_of, n_cores = refined.core_of, refined.n_cores
        stages["cores"] = "OPTIMAL" if n_cores == lb else "HEURISTIC"
        stages["lns"] = "HEURISTIC"
    if exact_applies(problem, n_cores):
        method = "exact"
        exact = solve_exact(
            problem,
            core_of,
            n_cores,
            bound,
            seconds=(CORES_SHARE * time_limit, CUT_SHARE * time_limit),
            seed=seed,
        )
        core_of, n_cores = exact.core_of, exact.n_cores
        stages["cores"] = exact.cores_status
        if exact.cores_bound > lb:
            lb, how = exact.cores_bound, f"CP-SAT proof (counting bound: {bound.how})"
        stages["cut"] = exact.cut_status or "OPTIMAL"
        cut_bound = exact.cut_bound if exact.cut_status else 0.0
    if n_cores <= 1:
        stages["cut"] = "OPTIMAL"
    if n_cores > hardware.n_cores:
        raise DoesNotFitError(
            f"placement needed {n_cores:,} cores but {hardware} chip(s) hold "
            f"{hardware.n_cores:,} (lower bound {lb:,}: {how}); use --chips "
            f"{suggest_chips(n_cores)}"
        )
    usage = evaluate(problem, core_of, n_cores)
    if not usage.fits:
        raise RuntimeError(f"placement left cores {usage.over[:5].tolist()} over capacity")
    pairs, pair_rate = core_pairs(problem, core_of, usage)
    positions, stages["mesh"] = assign_positions(
        n_cores,
        pairs,
        pair_rate,
        hardware,
        time_limit=MESH_SHARE * time_limit,
        seed=seed,
    )
    total, mean = traffic(problem, core_of, usage, positions, hardware)
    random_total, random_mean = random_traffic(problem, usage, positions, hardware)
    if all(status == "OPTIMAL" for status in stages.values()):
        status = "OPTIMAL"
    else:
        status = "FEASIBLE" if method == "exact" else "HEURISTIC"
    report = PlacementReport(
        neurons=problem.n_neurons,
        host_lines=problem.n_host,
        keys=int(np.count_nonzero(problem.degree)),
        cores=n_cores,
        lower_bound=lb,
        lower_bound_how=how,
        gap=n_cores / lb - 1 if lb else 0.0,
        traffic=total,
        mean_hops=mean,
        random_traffic=random_total,
        random_mean_hops=random_mean,
        solver_status=status,
        seconds=time.perf_counter() - start,
        method=method,
        chips=str(hardware),
        hardware_cores=hardware.n_cores,
        chip_hop_weight=hardware.chip_hop_weight,
        rates="uniform" if problem.rates is None else "given",
        axons_used=int(usage.axons.sum()),
        slots_used=int(usage.slots.sum()),
        copies=int(usage.slots.sum()) - problem.n_neurons,
        max_axons=int(usage.axons.max(initial=0)),
        max_slots=int(usage.slots.max(initial=0)),
        cut_traffic=float(pair_rate.sum()),
        cut_traffic_bound=cut_bound,
        stages=stages,
        lns=lns_info,
    )
    return Placement(np.asarray(core_of, np.int32), positions.astype(np.int32), report)


def _as_problem(
    graph_or_problem: Graph | PlacementProblem, rates: np.ndarray | None
) -> PlacementProblem:
    problem = (
        graph_or_problem
        if isinstance(graph_or_problem, PlacementProblem)
        else extract_problem(graph_or_problem)
    )
    if rates is None:
        return problem
    return dataclasses.replace(problem, rates=np.asarray(rates, dtype=np.float64))


def apply_placement(graph: Graph, placement: Placement) -> Graph:
    """A new graph whose :class:`Neurons` nodes carry their neurons' core numbers (``core``);
    the input graph and its nodes are left unchanged."""
    neurons = graph.of_type(Neurons)
    total = sum(node.count for node in neurons)
    if total != placement.core_of.size:
        raise ValueError(
            f"the placement covers {placement.core_of.size} neurons but the graph has {total}; "
            "place this graph again"
        )
    out = graph.copy()
    offset = 0
    for node in neurons:
        cores = np.array(placement.core_of[offset : offset + node.count], dtype=np.int32)
        out.nodes[node.name] = node.replace(core=cores)
        offset += node.count
    return out
