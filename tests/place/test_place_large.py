"""The partition path, recording a placement in the IR, the picture and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from placetest_util import modular_problem, paper_graph

from nsc.cli import main
from nsc.ir import Neurons
from nsc.place import (
    Hardware,
    apply_placement,
    evaluate,
    extract_problem,
    lower_bound,
    place,
    plot_placement,
)
from nsc.place.partition import PackState


@pytest.fixture(scope="module")
def modular() -> tuple[object, object]:
    problem = modular_problem(modules=75, size=40)  # 3,000 neurons
    return problem, place(problem, time_limit=2)


def test_partition_path_fits_and_reports_a_bound(modular: tuple) -> None:
    problem, placement = modular
    report = placement.report
    assert report.method == "partition" and report.solver_status == "HEURISTIC"
    usage = evaluate(problem, placement.core_of, placement.n_cores)
    assert usage.fits and report.max_axons <= 256 and report.max_slots <= 256
    assert report.lower_bound == lower_bound(problem).cores
    # 75 modules of 200 keys: the planted placement (one module per core) has 75 cores; the
    # counting bound (15,000 keys / 256 = 59) cannot see that two modules never share a core
    assert report.lower_bound == 59 and report.cores == 75
    assert report.gap == pytest.approx(report.cores / report.lower_bound - 1)
    assert "neuron slots" in report.lower_bound_how
    assert 0 < report.traffic < report.random_traffic
    assert len({tuple(p) for p in placement.positions.tolist()}) == report.cores


def test_partition_path_is_deterministic(modular: tuple) -> None:
    problem, placement = modular
    again = place(problem, time_limit=2)
    assert np.array_equal(again.core_of, placement.core_of)
    assert np.array_equal(again.positions, placement.positions)


def test_repair_resolves_overfull_cores_exactly() -> None:
    problem = modular_problem(modules=12, size=40, seed=3)
    one_core = np.zeros(problem.n_neurons, np.int64)
    state = PackState(problem, one_core, evaluate(problem, one_core, 1))
    assert state.overflowing() == [0]
    state.repair()
    core_of, n_cores = state.numbered()
    usage = evaluate(problem, core_of, n_cores)
    assert usage.fits
    used = sorted(
        (c for c in range(state.n_cores) if state.slots[c]), key=state.order_key.__getitem__
    )
    assert usage.axons.tolist() == [state.axons[c] for c in used]  # incremental == exact
    assert usage.slots.tolist() == [state.slots[c] for c in used]


def test_multi_chip_mesh_weights_chip_crossings() -> None:
    problem = modular_problem(modules=75, size=40, seed=1)
    placement = place(problem, Hardware((1, 2)), time_limit=1)
    assert placement.report.chips == "1x2" and placement.report.hardware_cores == 8192
    assert placement.positions[:, 0].max() < 128 and placement.positions[:, 1].max() < 64


def test_apply_placement_returns_a_new_graph() -> None:
    graph = paper_graph()
    placement = place(graph, time_limit=2)
    placed = apply_placement(graph, placement)
    assert graph["h"].core is None  # input untouched
    assert placed is not graph and placed["h"] is not graph["h"]
    assert isinstance(placed["h"], Neurons)
    assert placed["h"].core.tolist() == [0] * 16
    assert placed["h"].span == graph["h"].span
    placed.verify()
    with pytest.raises(ValueError, match="16"):
        apply_placement(paper_graph(hidden=8, inputs=4), placement)


def test_plot_writes_png(tmp_path: Path, modular: tuple) -> None:
    problem, placement = modular
    path = tmp_path / "maps" / "map.png"
    plot_placement(placement, problem, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_cli_place_writes_ir_report_and_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nsc.text import parse_ir_file, print_ir

    source = tmp_path / "net.nsir"
    source.write_text(print_ir(paper_graph()), encoding="utf-8")
    out, report, png = tmp_path / "placed.nsir", tmp_path / "r.json", tmp_path / "m.png"
    argv = ["place", str(source), "-o", str(out), "--report", str(report), "--png", str(png)]
    assert main([*argv, "--time-limit", "2"]) == 0
    assert "on 1 core(s)" in capsys.readouterr().out
    placed = parse_ir_file(out)
    assert placed["h"].core.tolist() == [0] * 16
    data = json.loads(report.read_text())
    assert data["cores"] == 1 and data["solver_status"] == "OPTIMAL"
    assert data["positions"] == [[0, 0]] and data["gap"] == 0
    assert png.exists()
    assert extract_problem(placed).n_neurons == 16


def test_cli_place_does_not_fit_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nsc.text import print_ir

    source = tmp_path / "wide.nsir"
    source.write_text(print_ir(paper_graph(hidden=16, inputs=70)), encoding="utf-8")
    out = tmp_path / "placed.nsir"
    assert main(["place", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nsc: error: %h[0]")
    assert "split-fanin with max=64" in err and "Traceback" not in err
    assert not out.exists()
