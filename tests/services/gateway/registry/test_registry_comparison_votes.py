"""Votes on comparison answers: one per answer per key, withdrawable, counted per answer."""

from __future__ import annotations

from services.gateway.registry.comparisons import AnswerTally, ComparisonVotes
from services.gateway.registry.store import Registry


def test_votes_are_one_per_answer_per_key_and_withdrawable(registry: Registry) -> None:
    tenant = registry.ensure_tenant("acme")
    registry.create_job(tenant.id, "comparison", {}, job_id="cmpjob-1")
    _, alice = registry.create_api_key("acme", "alice")
    _, bob = registry.create_api_key("acme", "bob")
    votes = ComparisonVotes(registry.db)

    assert votes.add("cmpjob-1", 0, "base", alice.id)
    assert not votes.add("cmpjob-1", 0, "base", alice.id)  # a second click is the same vote
    assert votes.add("cmpjob-1", 0, "base", bob.id)
    assert votes.add("cmpjob-1", 1, "ft:tuned", alice.id)
    assert votes.tallies("cmpjob-1") == [
        AnswerTally(0, "base", 2),
        AnswerTally(1, "ft:tuned", 1),
    ]
    assert votes.of_key("cmpjob-1", alice.id) == [(0, "base"), (1, "ft:tuned")]

    assert votes.withdraw("cmpjob-1", 0, "base", alice.id)
    assert not votes.withdraw("cmpjob-1", 0, "base", alice.id)
    assert votes.tallies("cmpjob-1") == [
        AnswerTally(0, "base", 1),
        AnswerTally(1, "ft:tuned", 1),
    ]
    assert votes.tallies("cmpjob-other") == []
