"""The packaged TREC files, their loaders, the validation split and the GloVe table."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from nsc.demos.trec.data import (
    CLASSES,
    TREC_DIR,
    build_vocab,
    glove_embeddings,
    load_trec,
    tokenize,
    train_val_split,
)

SHA256 = {
    "train_5500.label": "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    "TREC_10.label": "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
}
TRAIN_COUNTS = {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896}
TEST_COUNTS = {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113}


def test_files_unchanged() -> None:
    for name, digest in SHA256.items():
        assert hashlib.sha256((TREC_DIR / name).read_bytes()).hexdigest() == digest


def test_counts_and_classes() -> None:
    train, test = load_trec("train"), load_trec("test")
    assert (len(train), len(test)) == (5452, 500)
    assert Counter(CLASSES[q.label] for q in train) == TRAIN_COUNTS
    assert Counter(CLASSES[q.label] for q in test) == TEST_COUNTS
    assert train[0].fine == "DESC:manner"
    assert train[0].tokens[:3] == ("how", "did", "serfdom")
    assert max(len(q.tokens) for q in train) == 37
    assert max(len(q.tokens) for q in test) == 17


def test_latin1_byte() -> None:
    assert "sister\xf0city" in load_trec("train")[65].tokens


def test_tokenize() -> None:
    assert tokenize("What 's  the CAPITAL ?\n") == ["what", "'s", "the", "capital", "?"]


def test_split_deterministic_stratified_disjoint() -> None:
    train = load_trec("train")
    a_tr, a_val = train_val_split(train, 0.1, seed=0)
    b_tr, b_val = train_val_split(train, 0.1, seed=0)
    _, c_val = train_val_split(train, 0.1, seed=1)
    assert a_val == b_val and a_tr == b_tr
    assert a_val != c_val
    assert len(a_tr) + len(a_val) == len(train)
    assert {id(q) for q in a_tr}.isdisjoint({id(q) for q in a_val})
    counts = Counter(CLASSES[q.label] for q in a_val)
    assert counts == {c: round(0.1 * n) for c, n in TRAIN_COUNTS.items()}


def test_glove_subset_and_cache(tmp_path: Path) -> None:
    vocab = build_vocab([("the", "question", "zzzqqq-not-a-word"), ("the",)])
    assert vocab == ["question", "the", "zzzqqq-not-a-word"]
    emb, found = glove_embeddings(vocab, cache_dir=tmp_path)
    assert emb.shape == (3, 50) and emb.dtype == np.float32
    assert found.tolist() == [True, True, False]
    assert not emb[2].any() and emb[1].any()
    cached = list(tmp_path.glob("glove50-*.npz"))
    assert len(cached) == 1
    emb2, found2 = glove_embeddings(vocab, cache_dir=tmp_path)
    assert np.array_equal(emb, emb2) and np.array_equal(found, found2)
