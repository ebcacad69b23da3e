"""Claims on the desk: a borrower claimed for 15 minutes, refused to another agent while it
lasts, free once it expires or is released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.desk_claims import (
    CLAIM_LENGTH,
    Claim,
    ClaimRefused,
    claim_expires_at,
    live_claim,
    refusal,
    release,
    take,
)

NOW = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)


def test_a_claim_lasts_fifteen_minutes() -> None:
    assert timedelta(minutes=15) == CLAIM_LENGTH
    assert claim_expires_at(NOW) == NOW + timedelta(minutes=15)


def test_taking_a_free_borrower_records_a_claim_until_it_expires() -> None:
    claim = take("alice", "B-1", "A-1", [], NOW)
    assert claim == Claim("B-1", "alice", "A-1", NOW, NOW + CLAIM_LENGTH)


def test_another_agents_live_claim_is_refused_with_who_and_until_when() -> None:
    bobs = take("bob", "B-1", "A-1", [], NOW)
    assert isinstance(bobs, Claim)
    later = NOW + timedelta(minutes=14)
    refused = take("alice", "B-1", "A-2", [bobs], later)
    assert refused == ClaimRefused("bob", NOW + CLAIM_LENGTH)
    assert isinstance(refused, ClaimRefused)
    assert refused.reason == "bob is working this borrower until 04:15 UTC"
    assert refusal("alice", "B-1", [bobs], later) == refused


def test_ones_own_live_claim_is_renewed() -> None:
    first = take("alice", "B-1", "A-1", [], NOW)
    assert isinstance(first, Claim)
    later = NOW + timedelta(minutes=10)
    renewed = take("alice", "B-1", "A-2", [first], later)
    assert renewed == Claim("B-1", "alice", "A-2", later, later + CLAIM_LENGTH)
    assert refusal("alice", "B-1", [first], later) is None


def test_an_expired_claim_leaves_the_borrower_free() -> None:
    bobs = take("bob", "B-1", "A-1", [], NOW)
    assert isinstance(bobs, Claim)
    at_expiry = NOW + CLAIM_LENGTH
    assert live_claim([bobs], "B-1", at_expiry) is None
    assert isinstance(take("alice", "B-1", "A-1", [bobs], at_expiry), Claim)


def test_a_released_claim_frees_the_borrower_at_once() -> None:
    bobs = take("bob", "B-1", "A-1", [], NOW)
    assert isinstance(bobs, Claim)
    done = NOW + timedelta(minutes=3)
    assert refusal("alice", "B-1", [release(bobs, done)], done) is None


def test_a_claim_on_one_borrower_does_not_hold_another() -> None:
    bobs = take("bob", "B-1", "A-1", [], NOW)
    assert isinstance(bobs, Claim)
    assert isinstance(take("alice", "B-2", "A-9", [bobs], NOW), Claim)
