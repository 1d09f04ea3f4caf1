"""Every hardware rule of validate.py, with the message naming what and where."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from nsc_runtime import NEURON_FIELDS, Corelet, CoreletError, Port, hw
from nsc_runtime.validate import find_violation, validate_corelet


def base() -> Corelet:
    c = Corelet.empty(3)
    c.inputs.append(Port("x", [np.array([[0, 1], [2, 255]], np.int32)]))
    c.outputs.append(Port("y", [np.array([[1, 3]], np.int32)]))
    return c


def setitem(name: str, index: tuple[int, ...], value: int) -> Callable[[Corelet], None]:
    def edit(c: Corelet) -> None:
        c.neurons[name][index] = value

    return edit


CASES: list[tuple[str, Callable[[Corelet], None], str]] = [
    (
        "weight",
        setitem("weights", (1, 4, 2), -256),
        r"core 1 neuron 4 axon type 2: weights = -256 .*-255\.\.255",
    ),
    ("leak", setitem("leak", (2, 9), 300), r"core 2 neuron 9: leak = 300 .*-255\.\.255"),
    ("alpha", setitem("alpha", (0, 0), hw.ALPHA_MAX + 1), "alpha = 262144"),
    ("beta", setitem("beta", (0, 1), -1), "beta = -1"),
    ("tm", setitem("tm", (0, 1), 9), r"tm = 9 .*0\.\.8"),
    ("mode", setitem("reset_mode", (0, 1), 3), "reset_mode = 3"),
    ("kappa", setitem("kappa", (0, 1), 2), "kappa = 2"),
    ("stoch", setitem("stoch_synapse", (0, 1), 16), "stoch_synapse = 16"),
    ("v0", setitem("v0", (0, 1), hw.V_MAX + 1), "v0 = 393216"),
    ("reset", setitem("reset", (0, 1), hw.V_MIN - 1), "reset = -393217"),
    ("dest", setitem("dest_core", (2, 200), 3), r"core 2 neuron 200: dest_core = 3 .*-1\.\.2"),
    ("axon", setitem("dest_axon", (1, 2), 256), "dest_axon = 256"),
    (
        "axon type",
        lambda c: c.axon_types.__setitem__((2, 17), 4),
        r"core 2 axon 17: axon_types = 4",
    ),
    ("seed", lambda c: setattr(c, "seeds", np.array([1, -1, 2])), "core 1: seeds = -1"),
    ("shape", lambda c: setattr(c, "position", np.zeros((2, 2), np.int32)), "shape"),
    ("dtype", lambda c: c.neurons.__setitem__("leak", np.zeros((3, 256))), "dtype float64"),
    ("missing", lambda c: c.neurons.pop("kappa"), "exactly the keys"),
    ("crossbar", lambda c: setattr(c, "crossbar", c.crossbar.astype(np.uint8)), "bool"),
    ("chips", lambda c: setattr(c, "chips", (0, 1)), "chips"),
    ("position", lambda c: c.position.__setitem__((1, 0), 64), r"core 1: position = 64 .*x in"),
    (
        "duplicate position",
        lambda c: c.position.__setitem__(2, c.position[0]),
        r"core 2: .*core 0 is there",
    ),
    (
        "port core",
        lambda c: c.inputs[0].lines[0].__setitem__((1, 0), 3),
        r"inputs port 'x' line 0 entry 1 \(core\)",
    ),
    ("port axon", lambda c: c.inputs[0].lines[0].__setitem__((0, 1), 256), r"axon in 0\.\.255"),
    (
        "output entries",
        lambda c: c.outputs.__setitem__(
            0, Port("y", [np.array([[1, 3]]), np.zeros((2, 2), np.int32)])
        ),
        "exactly 1",
    ),
    ("port name", lambda c: c.outputs.append(Port("@x", [])), "reserved for counters"),
    ("duplicate port", lambda c: c.inputs.append(Port("x", [])), "unique"),
    ("metadata", lambda c: c.metadata.__setitem__("k", 3), r"str -> str"),
]


@pytest.mark.parametrize(("label", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_rule(label: str, edit: Callable[[Corelet], None], message: str) -> None:
    c = base()
    validate_corelet(c)
    edit(c)
    with pytest.raises(CoreletError, match=message):
        c.validate()
    assert find_violation(c) is not None


def test_delay_only_matters_when_routed() -> None:
    c = base()
    c.neurons["delay"][0, 5] = 0  # ignored: no destination
    validate_corelet(c)
    c.neurons["dest_core"][0, 5] = 1
    with pytest.raises(CoreletError, match=r"core 0 neuron 5: delay = 0 .*1\.\.15"):
        validate_corelet(c)


def test_one_range_table_drives_fields_and_validation() -> None:
    """hw.NEURON_PARAM_RANGES is the only range table: the corelet's fields (names, order,
    dtypes) come from it and the validator accepts exactly its bounds."""
    assert list(NEURON_FIELDS) == list(hw.NEURON_PARAM_RANGES)
    assert hw.NEURON_PARAM_RANGES["alpha"][1] == hw.ALPHA_MIN == 0  # 18-bit unsigned
    for name, (dtype, lo, hi) in hw.NEURON_PARAM_RANGES.items():
        info = np.iinfo(NEURON_FIELDS[name])
        assert (
            np.dtype(NEURON_FIELDS[name]).str[1:] == {"u8": "u1", "i16": "i2", "i32": "i4"}[dtype]
        )
        assert info.min <= lo <= hi <= info.max
        if name in ("dest_core", "delay"):  # corelet-dependent, covered by the cases above
            continue
        for value, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
            if not info.min <= value <= info.max:
                continue
            c = base()
            c.neurons[name][1, 7] = value
            assert (find_violation(c) is None) == ok, (name, value)
