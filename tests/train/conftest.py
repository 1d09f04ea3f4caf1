"""Shared fixtures: TREC loaded once (GloVe cache in a temporary directory) and small
subsets of it for fast training runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nsc.demos.trec import CONFIGS, TrainResult, TrecData, load_data, train, with_overrides

TINY = with_overrides(CONFIGS["paper"], float_epochs=3, epochs=3)


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("NSC_CACHE_DIR", str(tmp_path_factory.mktemp("nsc-cache")))
    torch.set_num_threads(1)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def trec() -> TrecData:
    return load_data()


@pytest.fixture(scope="session")
def small(trec: TrecData) -> TrecData:
    """Every 25th training, 8th validation and 8th test question (219 / 69 / 63)."""
    return TrecData(
        trec.vocab,
        trec.embedding,
        trec.train.subset(range(0, len(trec.train), 25)),
        trec.val.subset(range(0, len(trec.val), 8)),
        trec.test.subset(range(0, len(trec.test), 8)),
    )


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="session")
def tiny(small: TrecData, tiny_dir: Path) -> TrainResult:
    """The paper shape trained for 3 + 3 epochs on :func:`small`, seed 0; its checkpoint is
    ``tiny_dir / "checkpoint.pt"``."""
    return train(TINY, small, seed=0, out_dir=tiny_dir, progress=False)
