"""torch.fx frontend: supported models lower to network-level IR whose interpretation matches
torch's forward (float64, on the last step or on every step); unsupported layers, ops and
non-finite weights raise FrontendError naming the culprit and listing what is supported."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nsc.errors import FrontendError
from nsc.frontend import to_graph
from nsc.ir import ElmanRNN, Graph, Input, Linear, Output, ReLU
from nsc.ir.interpret import interpret

RTOL = 1e-9


def features_of(x: torch.Tensor, batch_first: bool) -> np.ndarray:
    """The IR's (batch, steps, features) view of a torch input."""
    return (x if batch_first else x.transpose(0, 1)).numpy()


def lower_and_compare(
    model: nn.Module, x: torch.Tensor, *, batch_first: bool = True, last: bool = True
) -> Graph:
    model = model.double().eval()
    g = to_graph(model, x)
    g.verify()
    with torch.no_grad():
        want = model(x)
    if isinstance(want, tuple):
        want = want[0]
    (out,) = interpret(g, features_of(x, batch_first)).values()
    if last:
        assert g.attrs["readout"] == "last"
        got = out[:, -1]
    else:
        assert g.attrs["readout"] == "all"
        got = out if batch_first else out.transpose(1, 0, 2)
    want_np = want.numpy()
    assert got.shape == want_np.shape
    scale = max(1.0, float(np.abs(want_np).max()))
    np.testing.assert_allclose(got, want_np, rtol=RTOL, atol=RTOL * scale)
    return g


class Classifier(nn.Module):
    """Linear -> ReLU -> RNN -> Linear on the last step, picked as configured."""

    def __init__(
        self,
        *,
        batch_first: bool = True,
        pick: str = "out",
        layers: int = 1,
        bias: bool = True,
        nonlinearity: str = "relu",
        relu: str = "module",
    ) -> None:
        super().__init__()
        self.batch_first, self.pick, self.relu_kind = batch_first, pick, relu
        self.embed = nn.Linear(5, 8, bias=bias)
        self.act = nn.ReLU()
        self.rnn = nn.RNN(
            8, 6, num_layers=layers, nonlinearity=nonlinearity, batch_first=batch_first, bias=bias
        )
        self.head = nn.Linear(6, 3, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x)
        if self.relu_kind == "module":
            e = self.act(e)
        elif self.relu_kind == "F":
            e = F.relu(e)
        elif self.relu_kind == "torch":
            e = torch.relu(e)
        else:
            e = e.relu()
        out, h_n = self.rnn(e)
        if self.pick == "h_n":
            last = h_n[-1]
        elif self.batch_first:
            last = out[:, -1]
        else:
            last = out[-1]
        return self.head(last)


def make_input(batch_first: bool, seed: int = 0, batch: int = 4, steps: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, steps, 5, generator=g, dtype=torch.float64) * 4
    return x if batch_first else x.transpose(0, 1).contiguous()


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("pick", ["out", "h_n"])
def test_classifier_matches_torch(batch_first: bool, pick: str) -> None:
    torch.manual_seed(0)
    model = Classifier(batch_first=batch_first, pick=pick)
    g = lower_and_compare(model, make_input(batch_first), batch_first=batch_first)
    kinds = [type(n) for n in g]
    assert kinds == [Input, Linear, ReLU, ElmanRNN, Linear, Output]


@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("pick", ["out", "h_n"])
def test_multi_layer_rnn(layers: int, pick: str) -> None:
    torch.manual_seed(1)
    g = lower_and_compare(Classifier(layers=layers, pick=pick), make_input(True, 1))
    rnns = g.of_type(ElmanRNN)
    assert len(rnns) == layers
    assert [r.source for r in rnns[1:]] == [r.name for r in rnns[:-1]]


def test_multi_layer_rnn_not_batch_first() -> None:
    torch.manual_seed(2)
    model = Classifier(layers=2, batch_first=False, pick="h_n")
    lower_and_compare(model, make_input(False, 2), batch_first=False)


@pytest.mark.parametrize("relu", ["F", "torch", "method"])
def test_functional_relu_spellings(relu: str) -> None:
    torch.manual_seed(3)
    g = lower_and_compare(Classifier(relu=relu), make_input(True, 3))
    assert len(g.of_type(ReLU)) == 1


def test_no_bias_layers() -> None:
    torch.manual_seed(4)
    g = lower_and_compare(Classifier(bias=False), make_input(True, 4))
    assert all(n.bias is None for n in g.of_type(Linear))
    assert all(n.bias is None for n in g.of_type(ElmanRNN))


def test_tanh_rnn_lowers_at_network_level() -> None:
    torch.manual_seed(5)
    g = lower_and_compare(Classifier(nonlinearity="tanh"), make_input(True, 5))
    assert g.of_type(ElmanRNN)[0].nonlinearity == "tanh"


def test_rnn_bias_is_the_sum_of_both_biases() -> None:
    torch.manual_seed(6)
    model = Classifier()
    g = to_graph(model, make_input(True))
    want = (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach().double().numpy()
    np.testing.assert_allclose(g.of_type(ElmanRNN)[0].bias, want, rtol=0, atol=1e-7)


def test_sequential_per_step() -> None:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 2))
    g = lower_and_compare(model, make_input(True, 7), last=False)
    assert [type(n) for n in g] == [Input, Linear, ReLU, Linear, Output]


class SequenceOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=True)
        self.ident = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.ident(x))[0].contiguous()


def test_rnn_output_sequence() -> None:
    torch.manual_seed(8)
    lower_and_compare(SequenceOut(), make_input(True, 8), last=False)


class PerStep(nn.Module):
    """A per-step tagger: the final state is unpacked but unused."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out)


def test_unused_final_state_does_not_make_the_readout_last() -> None:
    """``out, _ = rnn(x)`` traces a getitem for ``_`` too; the model still reads every step,
    so the graph must say ``readout = "all"``."""
    torch.manual_seed(9)
    lower_and_compare(PerStep(), make_input(True, 9), last=False)


def test_input_size_without_example() -> None:
    torch.manual_seed(9)
    g = to_graph(Classifier())
    assert g.of_type(Input)[0].features == 5
    g.verify()


class DeclaredOutOfOrder(nn.Module):
    """The RNN is declared before the Linear that feeds it."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(8, 4, nonlinearity="relu", batch_first=True)
        self.embed = nn.Linear(5, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.embed(x))[0][:, -1]


def test_input_size_without_example_follows_the_data_flow() -> None:
    """Without an example input, the input size is that of the first layer the input reaches
    (embed: 5), not of the first module declared (rnn: 8); else the graph does not verify."""
    g = to_graph(DeclaredOutOfOrder())
    assert g.of_type(Input)[0].features == 5
    g.verify()


# -- unsupported models -------------------------------------------------------------------


class Wrap(nn.Module):
    def __init__(self, layer: nn.Module, index: bool = False) -> None:
        super().__init__()
        self.layer = layer
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        return y[0] if self.index else y


def assert_names_and_lists(err: FrontendError, *names: str) -> None:
    msg = str(err)
    for name in names:
        assert name in msg, (name, msg)
    assert "supported" in msg and "nn.Linear" in msg and "nn.RNN" in msg, msg


@pytest.mark.parametrize(
    ("layer", "index", "names"),
    [
        (nn.LSTM(5, 4, batch_first=True, proj_size=2), True, ("layer", "proj_size")),
        (nn.GRU(5, 4, batch_first=True, bidirectional=True), True, ("layer", "bidirectional")),
        (nn.Conv1d(6, 4, 1), False, ("'layer'", "Conv1d")),
        (nn.RNN(5, 4, batch_first=True, bidirectional=True), True, ("layer", "bidirectional")),
    ],
    ids=["lstm-proj", "gru-bidirectional", "conv1d", "bidirectional"],
)
def test_unsupported_layers(layer: nn.Module, index: bool, names: tuple[str, ...]) -> None:
    with pytest.raises(FrontendError) as info:
        to_graph(Wrap(layer, index), make_input(True))
    assert_names_and_lists(info.value, *names)


class Sigmoid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


def test_unsupported_function_call() -> None:
    with pytest.raises(FrontendError) as info:
        to_graph(Sigmoid(), make_input(True))
    assert_names_and_lists(info.value, "'sigmoid'")


class Mean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).mean(dim=1)


def test_unsupported_method_call() -> None:
    with pytest.raises(FrontendError) as info:
        to_graph(Mean(), make_input(True))
    assert_names_and_lists(info.value, "'mean'")


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(x)) + y


def test_several_inputs_rejected() -> None:
    with pytest.raises(FrontendError, match="several inputs"):
        to_graph(TwoInputs(), make_input(True))


class Slicing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, 2]


def test_unsupported_indexing() -> None:
    with pytest.raises(FrontendError, match=r"indexing .* is not supported"):
        to_graph(Slicing(), make_input(True))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return self.fc(x)
        return -self.fc(x)


def test_untraceable_model() -> None:
    with pytest.raises(FrontendError) as info:
        to_graph(Untraceable(), make_input(True))
    assert "torch.fx cannot trace Untraceable" in str(info.value)
    assert "nn.Linear" in str(info.value)


@pytest.mark.parametrize("where", ["embed.weight", "embed.bias", "rnn.weight_hh_l0", "head.bias"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_rejected(where: str, value: float) -> None:
    torch.manual_seed(0)
    model = Classifier()
    module, param = where.split(".")
    with torch.no_grad():
        getattr(getattr(model, module), param).view(-1)[0] = value
    with pytest.raises(FrontendError) as info:
        to_graph(model, make_input(True))
    assert f"'{module}'" in str(info.value)
    assert "NaN or infinite" in str(info.value)


class BatchFirstLastBatch(nn.Module):
    """batch_first=True, but out[-1]: the last *batch item*, not the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][-1]


class TimeFirstLastBatch(nn.Module):
    """batch_first=False, but out[:, -1]: the last *batch item*, not the last step."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, -1]


@pytest.mark.parametrize("model_cls", [BatchFirstLastBatch, TimeFirstLastBatch])
def test_indexing_the_batch_axis_is_not_taken_for_the_last_step(model_cls: type) -> None:
    """Which axis is time depends on batch_first; picking the last batch item must not be
    lowered as "take the last step" (that silently computes something else)."""
    torch.manual_seed(0)
    batch_first = model_cls is BatchFirstLastBatch
    with pytest.raises(FrontendError):
        to_graph(model_cls().double(), make_input(batch_first))


def test_to_graph_passes_graphs_through_and_rejects_other_objects() -> None:
    g = Graph("g")
    assert to_graph(g) is g
    with pytest.raises(FrontendError, match=r"cannot compile a str.*torch\.nn\.Module"):
        to_graph("model.pt")
