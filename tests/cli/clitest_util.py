"""Shared pieces of the CLI tests (the fixture itself is in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODULE = "nsc_cli_tinynet"  # importable as --model-class nsc_cli_tinynet:Tiny
TINYNET = """
from torch import nn


class Tiny(nn.Module):
    def __init__(self, features=3, hidden=4, classes=2):
        super().__init__()
        self.rnn = nn.RNN(features, hidden, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)
"""


class Evil:
    """Unpickling this creates ``marker``: stands for any code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@dataclass
class Fixtures:
    root: Path
    marker: Path  # must never exist

    def __truediv__(self, name: str) -> Path:
        return self.root / name
