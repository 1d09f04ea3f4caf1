"""The integer-parameter dict frontend: required keys, finite integer values, a graph that
verifies and computes the documented integer network exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nsc.errors import FrontendError, NscError
from nsc.frontend import to_graph
from nsc.frontend.params import REQUIRED, from_params
from nsc.ir import Input, Neurons, Output, QLinear, SpikeCount, Synapses
from nsc.ir.interpret import interpret, run_trace


def params(seed: int = 0, n_in: int = 5, n_proj: int = 6, hidden: int = 4) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "proj_w": rng.integers(-3, 4, (n_proj, n_in)),
        "proj_b": rng.integers(0, 5, n_proj),
        "proj_div": 2,
        "w_in": rng.integers(-8, 8, (hidden, n_proj)),
        "w_rec": rng.integers(-8, 8, (hidden, hidden)),
        "alpha": rng.integers(2, 9, hidden),
        "leak": rng.integers(-1, 2, hidden),
        "readout_w": rng.integers(-5, 6, (3, hidden)),
        "readout_b": rng.integers(-5, 6, 3),
        "window": 15,
        "levels": 16,
    }


def test_builds_a_graph_that_verifies() -> None:
    g = from_params(params())
    g.verify()
    assert g.attrs == {"level": "scheduled", "window": 15, "levels": 16}
    assert [type(n) for n in g] == [
        Input,
        QLinear,
        Neurons,
        Synapses,
        Synapses,
        SpikeCount,
        QLinear,
        Output,
    ]
    proj, h = g["proj"], g["h"]
    assert isinstance(proj, QLinear) and proj.levels == 16 and proj.divisor == 2
    assert isinstance(h, Neurons) and h.count == 4
    assert g["w_in"].delay.tolist() == [0] * 6  # type: ignore[attr-defined]
    assert g["w_rec"].delay.tolist() == [15] * 4  # type: ignore[attr-defined]
    assert g["readout"].levels == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(4))
def test_float_arrays_holding_integers_are_accepted(seed: int) -> None:
    p = {k: np.asarray(v, np.float64) for k, v in params(seed).items()}
    a, b = from_params(params(seed)), from_params(p)
    assert a.same_as(b)


def test_hand_computed_network() -> None:
    """p = clip(floor((2x + 1) / 2), 0, 15) = x; h: alpha 1, input weight 1, no recurrence, so
    h's count is p; logits = 3 h - 1. x = (4, 0, 7) -> logits (11, -1, 20)."""
    p = {
        "proj_w": [[2]],
        "proj_b": [1],
        "proj_div": 2,
        "w_in": [[1]],
        "w_rec": [[0]],
        "alpha": [1],
        "leak": [0],
        "readout_w": [[3]],
        "readout_b": [-1],
        "window": 15,
        "levels": 16,
    }
    g = from_params(p)
    g.verify()
    out = interpret(g, np.array([[[4], [0], [7]]]))
    assert out["logits"][0, :, 0].tolist() == [11, -1, 20]


def test_recurrence_uses_the_window_delay() -> None:
    """h: alpha 1, input weight 1, recurrent weight 1: one input spike at step 0 echoes every
    window: counts (1, 1, 1)."""
    p = params()
    p.update(
        proj_w=[[1]],
        proj_b=[0],
        proj_div=1,
        w_in=[[1]],
        w_rec=[[1]],
        alpha=[1],
        leak=[0],
        readout_w=[[1]],
        readout_b=[0],
    )
    g = from_params(p)
    values = run_trace(g, np.array([[[1], [0], [0]]])).values
    assert values["h_count"][0, :, 0].tolist() == [1, 1, 1]


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_key_is_named(key: str) -> None:
    p = params()
    del p[key]
    with pytest.raises(FrontendError) as info:
        from_params(p)
    assert "integer parameters lack" in str(info.value) and key in str(info.value)


def test_all_missing_keys_are_listed() -> None:
    with pytest.raises(FrontendError) as info:
        from_params({"alpha": [1]})
    for key in REQUIRED:
        if key != "alpha":
            assert key in str(info.value)


@pytest.mark.parametrize("key", ["proj_w", "w_in", "w_rec", "alpha", "leak", "readout_b"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_rejected(key: str, bad: float) -> None:
    p = params()
    arr = np.asarray(p[key], np.float64).copy()
    arr.reshape(-1)[0] = bad
    p[key] = arr
    with pytest.raises(FrontendError, match=rf"parameter {key} holds NaN or infinite values"):
        from_params(p)


def test_non_finite_scalar_rejected() -> None:
    p = params()
    p["window"] = float("nan")
    with pytest.raises(FrontendError, match="window holds NaN"):
        from_params(p)


def test_non_integer_values_rejected() -> None:
    p = params()
    p["w_in"] = np.asarray(p["w_in"], np.float64) + 0.5
    with pytest.raises(FrontendError, match="w_in holds non-integer values"):
        from_params(p)


def test_inconsistent_shapes_do_not_pass_silently() -> None:
    p = params()
    p["w_rec"] = np.zeros((3, 3), int)  # hidden is 4
    with pytest.raises(NscError):
        from_params(p).verify()


def test_to_graph_accepts_the_dict_and_exporters() -> None:
    p = params(1)

    class Exporter:
        def export_integer_params(self) -> dict[str, Any]:
            return p

    assert to_graph(p).same_as(from_params(p))
    assert to_graph(Exporter()).same_as(from_params(p))
