"""torch.export frontend: an exported program (read back from a .pt2 file, or as exported)
lowers to exactly the IR the torch.fx frontend gives for the module itself, compiles to the
same corelet, which verifies exactly; `nsc compile model.pt2` needs no --model-class; ATen
operators nothing converts raise FrontendError naming the operator and listing what is
supported; a new op converts ATen operators by declaring them (issue 11 item 1)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_frontend_torch import Classifier, PerStep, SequenceOut, make_input
from torch import nn

import nsc
from nsc.cli import main
from nsc.errors import FrontendError
from nsc.frontend import to_graph
from nsc.frontend.load import load_model
from nsc.frontend.torch_export import aten_converters, is_exported
from nsc.ir import NODE_TYPES, ElmanRNN, Linear, ReLU
from nsc.ir.interpret import interpret
from nsc.ir.nodes import Node, operand, register_op


def export(model: nn.Module, x: torch.Tensor, **options: Any) -> torch.export.ExportedProgram:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: RNN flat weights assigned during export
        return torch.export.export(model, (x,), **options)


def saved_and_loaded(model: nn.Module, x: torch.Tensor, tmp_path: Path, **options: Any) -> Any:
    """``model`` exported, saved as .pt2 and read back as `nsc compile` reads it."""
    path = tmp_path / "model.pt2"
    torch.export.save(export(model, x, **options), path)
    loaded = load_model(path)
    assert is_exported(loaded) and not is_exported(model)
    return loaded


class SqueezeLast(nn.Module):
    """``h_n.squeeze(0)`` after an identity and dropout (eval mode) on a tanh RNN."""

    def __init__(self) -> None:
        super().__init__()
        self.ident = nn.Identity()
        self.rnn = nn.RNN(5, 4, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(self.ident(x))
        return self.fc(self.drop(h_n.squeeze(0)))


class Mixed(nn.Module):
    """A ReLU module used twice and F.relu: module names and function names side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 6)
        self.act = nn.ReLU()
        self.body = nn.Sequential(nn.Linear(6, 6), nn.ReLU())
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.fc(x))
        y = F.relu(self.act(self.body(y)))
        return self.head(y)


MODELS: dict[str, tuple[Any, bool]] = {  # name -> (model factory, batch_first)
    "sequential": (
        lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 2)),
        True,
    ),
    "rnn-out": (lambda: Classifier(), True),
    "rnn-h_n": (lambda: Classifier(pick="h_n"), True),
    "time-first-out": (lambda: Classifier(batch_first=False), False),
    "time-first-h_n": (lambda: Classifier(batch_first=False, pick="h_n"), False),
    "2-layer": (lambda: Classifier(layers=2), True),
    "2-layer-time-first-h_n": (lambda: Classifier(layers=2, batch_first=False, pick="h_n"), False),
    "tanh": (lambda: Classifier(nonlinearity="tanh"), True),
    "F.relu": (lambda: Classifier(relu="F"), True),
    "torch.relu": (lambda: Classifier(relu="torch"), True),
    "method-relu": (lambda: Classifier(relu="method"), True),
    "no-bias": (lambda: Classifier(bias=False), True),
    "sequence-out": (SequenceOut, True),
    "per-step": (PerStep, True),
    "squeeze-h_n": (SqueezeLast, True),
    "module-names": (Mixed, True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_program_lowers_to_the_modules_ir(name: str, tmp_path: Path) -> None:
    factory, batch_first = MODELS[name]
    torch.manual_seed(0)
    model = factory().eval()
    x = make_input(batch_first).float()
    want = to_graph(model, x)
    loaded = saved_and_loaded(model, x, tmp_path)
    got = to_graph(loaded, x)
    assert nsc.print_ir(got) == nsc.print_ir(want)
    assert got.same_as(want)
    # without an example input the input size is the one the export recorded
    assert nsc.print_ir(to_graph(loaded)) == nsc.print_ir(want)
    # and what the IR computes is what the exported program computes
    with torch.no_grad():
        expected = loaded(x).double().numpy()
    (out,) = interpret(got, (x if batch_first else x.transpose(0, 1)).double().numpy()).values()
    if got.attrs["readout"] == "last":
        out = out[:, -1]
    elif not batch_first:
        out = out.transpose(1, 0, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_exported_program_object_and_dynamic_batch() -> None:
    """An ``ExportedProgram`` itself is accepted, and one exported with a dynamic batch size
    (``aten.sym_size`` feeding the RNN's zero state) lowers alike."""
    torch.manual_seed(1)
    model = Classifier(pick="h_n").eval()
    x = make_input(True).float()
    want = nsc.print_ir(to_graph(model, x))
    assert nsc.print_ir(to_graph(export(model, x))) == want
    batch = torch.export.Dim("batch", min=2)
    program = export(model, x, dynamic_shapes={"x": {0: batch}})
    assert any("sym_size" in str(n.target) for n in program.module().graph.nodes)
    assert nsc.print_ir(to_graph(program.module())) == want


@pytest.mark.parametrize(
    ("model", "batch_first"),
    [(Classifier(batch_first=False, pick="h_n"), False), (Classifier(layers=2), True)],
    ids=["time-first-h_n", "2-layer"],
)
def test_exported_program_compiles_to_the_same_corelet_exactly(
    model: nn.Module, batch_first: bool
) -> None:
    torch.manual_seed(2)
    model = model.eval()
    x = torch.from_numpy(np.random.default_rng(2).integers(0, 16, size=(8, 5, 5))).float()
    x_torch = x if batch_first else x.transpose(0, 1)
    from_module = nsc.compile(model, x.numpy(), time_limit=5)
    compiled = nsc.compile(export(model, x_torch).module(), x.numpy(), time_limit=5)
    for stage in ("input", "quantize", "lower-to-cores"):
        assert compiled.ir(stage) == from_module.ir(stage), stage
    assert compiled.n_cores == from_module.n_cores
    assert nsc.verify(compiled, x.numpy()).agreement == 1.0
    assert nsc.verify(compiled, np.random.default_rng(3).integers(0, 16, (6, 7, 5))).exact


def test_cli_compiles_a_pt2_file_without_model_class(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    torch.manual_seed(3)
    model = Classifier().eval()
    x = np.random.default_rng(4).random((12, 6, 5)) * 4
    torch.export.save(export(model, torch.from_numpy(x).float()), tmp_path / "m.pt2")
    np.save(tmp_path / "x.npy", x)
    argv = ["compile", str(tmp_path / "m.pt2"), "--example-input", str(tmp_path / "x.npy")]
    assert main([*argv, "-o", str(tmp_path / "m.corelet"), "--emit-ir", "input"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(nsc.print_ir(nsc.compile(model, x).stages["input"]))
    assert main(["verify", str(tmp_path / "m.corelet"), "--samples", "3"]) == 0
    assert "EXACT" in capsys.readouterr().out
    np.save(tmp_path / "wrong.npy", x[..., :3])
    argv[-1] = str(tmp_path / "wrong.npy")
    assert main([*argv, "-o", str(tmp_path / "n.corelet")]) == 1
    err = capsys.readouterr().err
    assert "has 3 features per step, the exported program takes 5" in err
    assert "Traceback" not in err and not (tmp_path / "n.corelet").exists()


# -- unsupported programs -------------------------------------------------------------------


class Wrap(nn.Module):
    def __init__(self, layer: nn.Module, then: Any = None) -> None:
        super().__init__()
        self.layer = layer
        self.then = then

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        y = y[0] if isinstance(y, tuple) else y
        return self.then(y) if self.then is not None else y


class LearnedState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(5, 4, batch_first=True)
        self.h0 = nn.Parameter(torch.ones(1, 1, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x, self.h0.expand(1, x.shape[0], 4).contiguous())[0]


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + y


UNSUPPORTED: dict[str, tuple[Any, tuple[str, ...]]] = {
    "lstm-proj": (lambda: Wrap(nn.LSTM(5, 4, batch_first=True, proj_size=2)), ("proj_size",)),
    "gru-bidirectional": (
        lambda: Wrap(nn.GRU(5, 4, batch_first=True, bidirectional=True)),
        ("layer", "bidirectional GRU"),
    ),
    "sigmoid": (lambda: Wrap(nn.Linear(5, 3), torch.sigmoid), ("aten.sigmoid.default",)),
    "mean": (lambda: Wrap(nn.Linear(5, 3), lambda y: y.mean(dim=1)), ("aten.mean.dim",)),
    "bidirectional": (
        lambda: Wrap(nn.RNN(5, 4, batch_first=True, bidirectional=True)),
        ("layer", "bidirectional"),
    ),
    "learned-h0": (LearnedState, ("'aten.expand.default'",)),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_programs_name_the_operator(name: str) -> None:
    factory, names = UNSUPPORTED[name]
    torch.manual_seed(4)
    program = export(factory().eval(), make_input(True).float()).module()
    with pytest.raises(FrontendError) as info:
        to_graph(program)
    msg = str(info.value)
    for part in names:
        assert part in msg, (part, msg)
    assert "supported" in msg and "aten.linear.default" in msg and "nn.RNN" in msg, msg


class LastBatchItem(nn.Module):
    """``out[-1]`` with batch_first=True, ``out[:, -1]`` without: the last *batch item*."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.rnn = nn.RNN(5, 4, nonlinearity="relu", batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        return out[-1] if self.batch_first else out[:, -1]


@pytest.mark.parametrize("batch_first", [True, False])
def test_indexing_the_batch_axis_is_not_taken_for_the_last_step(batch_first: bool) -> None:
    program = export(LastBatchItem(batch_first).eval(), make_input(batch_first).float())
    dim, hint = (0, "out[:, -1]") if batch_first else (1, "out[-1]")
    with pytest.raises(FrontendError) as info:
        to_graph(program)
    assert f"selecting index -1 of dimension {dim} is not supported" in str(info.value)
    assert f"only taking the last step ({hint} here" in str(info.value)


def test_training_mode_dropout_and_several_inputs_are_refused() -> None:
    torch.manual_seed(5)
    x = make_input(True).float()
    train = nn.Sequential(nn.Linear(5, 3), nn.Dropout(0.5)).train()
    with pytest.raises(FrontendError, match=r"dropout in training mode.*model\.eval\(\)"):
        to_graph(export(train, x).module())
    deep = Classifier(layers=2)
    deep.rnn = nn.RNN(8, 6, num_layers=2, dropout=0.5, batch_first=True)
    with pytest.raises(FrontendError, match=r"training mode.*model\.eval\(\)"):
        to_graph(export(deep.train(), x).module())
    with pytest.raises(FrontendError, match="several inputs"):
        to_graph(torch.export.export(TwoInputs(), (x, torch.rand(4, 6, 3))).module())


def test_nonzero_initial_state_is_refused() -> None:
    """A constant nonzero h0 (not a zero state) cannot be the spiking network's rest state."""

    class ConstantState(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(5, 4, batch_first=True)
            self.register_buffer("h0", torch.ones(1, 4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x, self.h0)[0]

    program = export(ConstantState().eval(), make_input(True).float()).module()
    with pytest.raises(FrontendError, match="nonzero initial state"):
        to_graph(program)


def test_decomposed_program_names_the_first_unknown_operator() -> None:
    """``run_decompositions()`` rewrites aten.linear into core ATen operators; the error
    names the first of them instead of failing obscurely."""
    program = export(nn.Sequential(nn.Linear(5, 3)).eval(), make_input(True).float())
    with pytest.raises(FrontendError, match=r"unsupported operation 'aten\.[a-z_]+\.[a-z]+'"):
        to_graph(program.run_decompositions().module())


# -- declarations ---------------------------------------------------------------------------


def test_the_ops_declare_what_they_convert() -> None:
    table = aten_converters()
    assert table["aten.linear.default"] is Linear
    assert table["aten.relu.default"] is ReLU
    assert table["aten.rnn_relu.input"] is ElmanRNN and table["aten.rnn_tanh.input"] is ElmanRNN


@dataclass(eq=False)
class Negate(Node):
    """``y[t] = -x[t]`` (converts ``aten.neg`` in torch.export graphs only)."""

    op: ClassVar[str] = "test_export_negate"
    level_range: ClassVar[tuple[str, str]] = ("network", "network")
    torch_aten: ClassVar[tuple[str, ...]] = ("aten.neg.default",)
    source: str = operand()

    def size(self, graph: Any) -> int:
        return int(graph[self.source].size(graph))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return -args[0]

    @classmethod
    def from_aten(
        cls, target: str, source: str, args: dict[str, Any], name: str, graph: Any
    ) -> tuple[str, str]:
        graph.add(cls(name, source=source))
        return "seq", name


@pytest.fixture
def negate() -> Iterator[type[Negate]]:
    register_op(Negate)
    try:
        yield Negate
    finally:
        del NODE_TYPES[Negate.op]


def test_a_new_op_converts_the_aten_operator_it_declares(negate: type[Negate]) -> None:
    torch.manual_seed(6)
    model = Wrap(nn.Linear(5, 3), torch.neg).eval()
    x = make_input(True).float()
    g = to_graph(export(model, x))
    assert [n.op for n in g] == ["input", "linear", "test_export_negate", "output"]
    (out,) = interpret(g, x.double().numpy()).values()
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(FrontendError) as info:  # and it is listed as supported
        to_graph(export(Wrap(nn.Linear(5, 3), torch.sigmoid), x))
    assert "aten.neg.default" in str(info.value)


def test_an_undeclared_aten_operator_is_unsupported() -> None:
    program = export(Wrap(nn.Linear(5, 3), torch.neg).eval(), make_input(True).float())
    with pytest.raises(FrontendError, match=r"unsupported operation 'aten\.neg\.default'"):
        to_graph(program)
