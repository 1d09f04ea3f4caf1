"""``place``: neurons to cores to mesh positions; ``apply_placement``: record it in the IR."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from ..errors import DoesNotFitError
from ..ir import Graph, Neurons
from . import effort as eff
from .bounds import check_fits, check_fits_graph, lower_bound, suggest_chips, with_shares
from .effort import Effort
from .exact import (
    EXACT_MAX_NEURONS,
    exact_applies,
    model_terms,
    solve_cores,
    solve_cut,
)
from .hardware import Hardware
from .lns import refine
from .mesh import MESH_EXACT_MAX, assign_positions
from .partition import partition
from .problem import PlacementProblem, extract_problem
from .report import Placement, PlacementReport
from .usage import (
    chip_traffic,
    core_pairs,
    evaluate,
    random_chip_traffic,
    random_traffic,
    traffic,
)


def place(
    graph_or_problem: Graph | PlacementProblem,
    hardware: Hardware | None = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    rates: np.ndarray | None = None,
    effort: str | float = "normal",
) -> Placement:
    """Place every neuron on a core and every core on the mesh (docs/placement.md).

    Anytime: the partition path gives a feasible answer at once; CP-SAT then improves it only
    while it can still win (the core-count model is skipped when the start meets the lower
    bound, and every solve stops at a proof). Small problems (up to 512 neurons and a few
    cores) use the exact model, larger ones a large-neighbourhood refinement. ``effort``
    (``"fast"``, ``"normal"``, ``"max"`` or a number >= 0, :mod:`nsc.place.effort`) sizes
    the improvement budgets; ``time_limit`` caps each at a fixed share (``"max"`` uses the
    full shares). Budgets are deterministic work, never wall time: one input, seed and
    options give one placement on any machine. ``rates`` (spikes per tick per source, length
    ``n_sources``) weight the traffic; ``None`` keeps the problem's rates, or uniform ones.

    Raises :class:`DoesNotFitError` with the reason and a remedy when the network cannot fit,
    before building the placement problem when the graph alone shows it.
    """
    start = time.perf_counter()
    hardware = hardware or Hardware()
    level = Effort.parse(effort)
    if not (math.isfinite(time_limit) and time_limit >= 0):
        raise ValueError(f"time_limit must be a finite number >= 0, got {time_limit}")
    if isinstance(graph_or_problem, Graph):
        check_fits_graph(graph_or_problem, hardware)
    problem = _as_problem(graph_or_problem, rates)
    bound = lower_bound(problem)
    check_fits(problem, hardware, bound)
    small = problem.n_neurons <= EXACT_MAX_NEURONS
    compact = (
        level.compaction(time_limit, eff.SMALL_COMPACT_SHARE, eff.SMALL_COMPACT_BASE)
        if small
        else level.compaction(time_limit, eff.COMPACT_SHARE, eff.COMPACT_BASE)
    )
    core_of, n_cores = partition(problem, bound, seed=seed, compact_seconds=compact)
    lb, how = bound.cores, bound.how
    stages = {"cores": "OPTIMAL" if n_cores == lb else "HEURISTIC", "cut": "HEURISTIC"}
    decisions: dict[str, str] = {"partition": f"{n_cores:,} cores (lower bound {lb:,})"}
    method, cut_bound = "partition", None
    lns_info: dict[str, float | int] = {}
    lns_seconds = level.budget(time_limit, eff.LNS_SHARE, eff.LNS_BASE)
    if not small and n_cores > 1:
        if lns_seconds > 0:
            refined = refine(problem, core_of, n_cores, seconds=lns_seconds, seed=seed)
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
            decisions["lns"] = f"ran, budget {lns_seconds:g} deterministic s"
        else:
            decisions["lns"] = f"skipped: no budget (effort {level}, time_limit {time_limit:g})"
        stages["lns"] = "HEURISTIC"
    if n_cores > bound.cores and level.overlap_work() > 0:
        bound = with_shares(bound, problem, level.overlap_work())
        lb, how = bound.cores, bound.how
        stages["cores"] = "OPTIMAL" if n_cores == lb else stages["cores"]
        decisions["bound"] = (
            f"ran the shares bound: {bound.shares:,} (order {bound.order:,}, counting "
            f"{bound.counting:,})"
        )
    else:
        decisions["bound"] = "skipped the shares bound: " + (
            "the placement meets the lower bound" if n_cores <= bound.cores else "no budget"
        )
    if exact_applies(problem, n_cores):
        method = "exact"
        cores = solve_cores(
            problem,
            core_of,
            n_cores,
            bound,
            seconds=_exact_seconds(problem, n_cores, level, time_limit, "cores"),
            seed=seed,
        )
        decisions["cores"] = _cores_decision(problem, n_cores, bound.cores, level, cores.status)
        core_of, n_cores = cores.core_of, cores.n_cores
        stages["cores"] = cores.status
        if cores.bound > lb:
            lb, how = (
                cores.bound,
                f"CP-SAT proof (before it, lower bound {bound.cores:,}: {bound.how})",
            )
        cut = solve_cut(
            problem,
            core_of,
            n_cores,
            seconds=_exact_seconds(problem, n_cores, level, time_limit, "cut"),
            seed=seed,
        )
        decisions["cut"] = _cut_decision(problem, n_cores, level, cut.status)
        core_of = cut.core_of
        stages["cut"] = cut.status or "OPTIMAL"
        if cut.status not in (None, "HEURISTIC", "UNKNOWN"):
            cut_bound = cut.bound
        elif cut.status is None:
            cut_bound = 0.0
    elif small:
        decisions["exact"] = "skipped: the model is too large for the exact path"
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
    mesh_seconds = level.budget(time_limit, eff.MESH_SHARE, eff.MESH_BASE)
    if n_cores >= eff.MESH_HARD_CORES and mesh_seconds < eff.MESH_HARD_SECONDS:
        mesh_seconds = 0.0
    if 2 < n_cores <= MESH_EXACT_MAX:
        decisions["mesh"] = (
            f"CP-SAT, budget {mesh_seconds:g} deterministic s"
            if mesh_seconds > 0
            else f"local search only: CP-SAT needs more budget (effort {level})"
        )
    positions, stages["mesh"] = assign_positions(
        n_cores,
        pairs,
        pair_rate,
        hardware,
        time_limit=mesh_seconds,
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
        effort=str(level),
        decisions=decisions,
        chip_traffic=chip_traffic(problem, core_of, usage, positions),
        random_chip_traffic=random_chip_traffic(problem, usage, positions),
        lower_bounds={
            name: value
            for name, value in (
                ("counting", bound.counting),
                ("order", bound.order),
                ("shares", bound.shares),
            )
            if value is not None
        },
    )
    return Placement(np.asarray(core_of, np.int32), positions.astype(np.int32), report)


_EXACT_STAGES = {
    "cores": (eff.CORES_SHARE, eff.CORES_NORMAL_TERMS),
    "cut": (eff.CUT_SHARE, eff.CUT_NORMAL_TERMS),
}


def _exact_seconds(
    problem: PlacementProblem, n_cores: int, level: Effort, time_limit: float, stage: str
) -> float:
    """CP-SAT budget of one exact stage: 0 (skip) when the model is larger than this effort
    builds, else the effort's budget, which grows with the model."""
    share, normal_terms = _EXACT_STAGES[stage]
    terms = model_terms(problem, n_cores)
    if terms > level.exact_terms(normal_terms):
        return 0.0
    return level.budget(time_limit, share, eff.EXACT_BASE + terms * eff.EXACT_PER_TERM)


def _cores_decision(
    problem: PlacementProblem, n_cores: int, bound: int, level: Effort, status: str
) -> str:
    if n_cores <= bound:
        return "skipped: the start meets the lower bound (proven minimal)"
    if status == "HEURISTIC":
        return _too_large(problem, n_cores, level, "cores")
    return f"ran: {status}"


def _cut_decision(
    problem: PlacementProblem, n_cores: int, level: Effort, status: str | None
) -> str:
    if status is None:
        return "skipped: nothing to cut (one core or no neuron routes)"
    if status == "HEURISTIC":
        return _too_large(problem, n_cores, level, "cut")
    return f"ran: {status}"


def _too_large(problem: PlacementProblem, n_cores: int, level: Effort, stage: str) -> str:
    limit = level.exact_terms(_EXACT_STAGES[stage][1])
    return (
        f"skipped: effort {level} builds {stage} models of up to {limit:,.0f} terms, this one "
        f"has {model_terms(problem, n_cores):,} (effort='max' runs it)"
    )


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
