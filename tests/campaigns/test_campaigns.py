"""The reliability campaigns of issue 15 at a size that fits the test suite (fixed seeds).

``benchmarks/campaigns.py`` runs the same campaigns at 10,000 cases each (docs/campaigns.md).
Each campaign is also run once against a deliberately broken component, to show that it
catches what it is meant to catch.
"""

from __future__ import annotations

import campaigns
import pytest
from campaigns import FAIL, Campaign

from nsc_runtime import format as fmt


def _outcomes(camp: Campaign) -> set[str]:
    return {outcome.split(" [")[0] for outcome in camp.counts}


def _assert_clean(camp: Campaign, cases: int) -> None:
    assert camp.cases == cases
    assert camp.failed == 0, "\n".join(camp.failures)


def test_mutated_ir_texts_fail_cleanly_or_round_trip_exactly() -> None:
    camp = campaigns.ir_campaign(500, seed=1)
    _assert_clean(camp, 500)
    assert camp.counts["rejected: IRParseError at file:line:col"] > 250
    assert camp.counts["accepted, round trip exact, verifies"] > 0
    assert camp.counts["accepted, round trip exact, verify: IRVerifyError at file:line:col"] > 0


def test_generated_graphs_round_trip() -> None:
    for name, text in campaigns.ir_sources(seed=2):
        assert campaigns.parse_ir(text, name) is not None


def test_corrupted_corelets_are_refused_or_load_valid() -> None:
    camp = campaigns.corelet_campaign(500, seed=1)
    _assert_clean(camp, 500)
    assert {"rejected: CoreletFormatError", "loaded, valid, same bytes, runs"} <= _outcomes(camp)
    # checksum-protected corruptions and resealed ones are both refused
    assert camp.counts["rejected: CoreletFormatError [bit flips]"] > 0
    assert camp.counts["rejected: CoreletFormatError [field edit, resealed (payload)]"] > 0


def test_sigkill_during_writes_never_leaves_a_truncated_target() -> None:
    camp = campaigns.kill_campaign(60, seed=1, cli_every=30)
    _assert_clean(camp, 60)
    assert camp.counts["target complete and valid"] > 0


def test_corelets_and_runs_are_deterministic() -> None:
    camp = campaigns.determinism_campaign(25, seed=1)
    _assert_clean(camp, 25)
    assert camp.counts["identical bytes and runs (threads 1 = 2)"] == 25


# --- the campaigns catch what they are meant to catch ------------------------------------


def test_ir_campaign_catches_a_parser_that_raises_something_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = campaigns.parse_ir

    def broken(text: str, path: str | None = None) -> object:
        if path == "mutant.nsir" and "nan" in text:
            raise ValueError("boom")
        return real(text, path)

    monkeypatch.setattr(campaigns, "parse_ir", broken)
    camp = campaigns.ir_campaign(200, seed=1)
    assert camp.counts[f"{FAIL}: ValueError while parsing"] > 0
    assert camp.failures and "boom" in camp.failures[0]


def test_corelet_campaign_catches_a_loader_that_raises_something_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = fmt.loads

    def broken(data: bytes) -> object:
        if len(data) % 2:
            raise IndexError("boom")
        return real(data)

    monkeypatch.setattr(fmt, "loads", broken)
    camp = campaigns.corelet_campaign(100, seed=1)
    assert camp.counts[f"{FAIL}: IndexError while loading"] > 0


def test_kill_campaign_sees_a_non_atomic_writer_truncate() -> None:
    camp = campaigns.kill_campaign(60, seed=1, cli_every=0, atomic=False)
    assert camp.failed > 0
    assert any("neither absent nor complete" in f for f in camp.failures)
