"""The prompts an export is checked with: given ones, or the first exchanges of the
dataset the model was tuned (or is validated) on, with their reference answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tuneloop_core.datasets.conversation import Role

# Used when there is neither a prompt nor a dataset: plain questions any chat model should
# answer, so "does the quantised model still talk sense" is always checked.
DEFAULT_PROMPTS = (
    "What color is the sky on a clear day?",
    "How many days are in a week?",
    "What is the opposite of hot?",
    "Give me three tips for staying healthy.",
)


@dataclass(frozen=True)
class Sample:
    messages: list[dict[str, str]]  # system? + user, ending before the answer
    reference: str | None  # the dataset's answer, when there is one


@dataclass(frozen=True)
class Samples:
    samples: list[Sample]
    dataset_system: str | None  # the system prompt most of the dataset used, if any


def _with_system(system: str, prompt: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}]


def load_samples(prompts: list[str], dataset: Path | None, system: str, limit: int) -> Samples:
    """Up to `limit` samples; the dataset's own system prompt wins for its exchanges."""
    if prompts:
        return Samples([Sample(_with_system(system, p), None) for p in prompts[:limit]], None)
    if dataset is None or not dataset.is_file():
        chosen = DEFAULT_PROMPTS[:limit]
        return Samples([Sample(_with_system(system, p), None) for p in chosen], None)
    from tuneloop_core.datasets.reader import read_dataset

    found: list[Sample] = []
    systems: Counter[str] = Counter()
    conversations = read_dataset(dataset).conversations
    for conversation in conversations:
        turns = conversation.turns
        head = turns[0].content if turns and turns[0].role is Role.SYSTEM else ""
        systems[head] += 1
        body = turns[1:] if head else turns
        exchange = len(body) >= 2 and body[0].role is Role.USER and body[1].role is Role.ASSISTANT
        if exchange and len(found) < limit:
            found.append(Sample(_with_system(head or system, body[0].content), body[1].content))
    common = systems.most_common(1)
    dataset_system = common[0][0] if common and common[0][0] else None
    return Samples(found, dataset_system)
