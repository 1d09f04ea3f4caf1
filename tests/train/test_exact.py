"""The demo's constrained network (from nsc.constrain) against the independent plain-numpy
reference of the spiking protocol, and its export in the format ``nsc compile`` reads."""

from __future__ import annotations

import numpy as np
import pytest

from nsc.demos.trec import TrainResult, TrecData, export_integer_params, quantize_inputs
from nsc.errors import NscError
from nsc.frontend.params import REQUIRED, from_params
from nsc.ir.interpret import run_trace
from nsc.train.constrain import reference_logits


def test_trained_model_agrees_with_reference_on_every_test_question(
    tiny: TrainResult, trec: TrecData
) -> None:
    net = tiny.model
    logits = net.integer_logits(trec.test.ids.numpy(), trec.test.lengths.numpy())
    params = net.export_params()
    for n in range(len(trec.test)):
        ids = trec.test.ids[n, : int(trec.test.lengths[n])].numpy()
        np.testing.assert_array_equal(logits[n], reference_logits(params, ids)[-1])


def test_export_is_the_compiled_format(tiny: TrainResult, trec: TrecData) -> None:
    """The exported dict holds every key the params frontend needs, integers only, the fan-in
    mask the network keeps; its graph computes the network's logits at every word."""
    params = export_integer_params(tiny.model, trec.vocab)
    assert set(REQUIRED) <= set(params)
    for key in ("proj_w", "w_in", "w_rec", "alpha", "leak", "readout_w", "table"):
        assert params[key].dtype.kind == "i", key
    assert params["w_in"].min() >= -8 and params["w_in"].max() <= 7
    assert params["fan_in_mask"].shape == (16, 47 + 16)
    graph = from_params(params)
    xs = quantize_inputs(params, trec.test.tokens[:12])
    reference = tiny.model.export_params()
    for n, x in enumerate(xs):
        out = np.asarray(run_trace(graph, x[None].astype(np.float64)).values["logits"])[0]
        ref = reference_logits(reference, trec.test.ids[n, : len(x)].numpy())
        np.testing.assert_array_equal(out, ref)


def test_unknown_word_is_a_clear_error(tiny: TrainResult, trec: TrecData) -> None:
    params = export_integer_params(tiny.model, trec.vocab)
    with pytest.raises(NscError, match="outside the vocabulary: qwxzv"):
        quantize_inputs(params, [("what", "qwxzv")])
