"""Build the Alpaca-format train/held-out files of the 公文 sample from facts.json.

facts.json is the file people edit: one entry per fact, with its canonical answer,
the 7 question phrasings used for training and 1-2 held-out paraphrases.  This
script turns it into:

- train.json:   one {"instruction", "input", "output"} pair per training phrasing;
- heldout.json: one pair per held-out paraphrase (never used for training).

Usage (stdlib only; output is deterministic):

    python samples/gongwen/build.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FACTS_PATH = HERE / "facts.json"
TRAIN_PATH = HERE / "train.json"
HELDOUT_PATH = HERE / "heldout.json"

TRAIN_PER_FACT = 7

Pair = dict[str, str]


def load_facts(path: Path = FACTS_PATH) -> list[dict[str, Any]]:
    """Read facts.json and check its shape; raise ValueError on a malformed fact."""
    facts = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(facts, list):
        raise ValueError(f"{path}: expected a JSON array of facts")
    seen: set[str] = set()
    for fact in facts:
        fid = fact.get("id")
        if not isinstance(fid, str) or not fid or fid in seen:
            raise ValueError(f"fact id missing or duplicated: {fid!r}")
        seen.add(fid)
        if set(fact) != {"id", "doc", "answer", "train", "heldout"}:
            raise ValueError(f"{fid}: unexpected keys {sorted(fact)}")
        if not isinstance(fact["answer"], str) or not fact["answer"].strip():
            raise ValueError(f"{fid}: empty answer")
        if len(fact["train"]) != TRAIN_PER_FACT:
            raise ValueError(f"{fid}: expected {TRAIN_PER_FACT} train questions")
        if not 1 <= len(fact["heldout"]) <= 2:
            raise ValueError(f"{fid}: expected 1 or 2 held-out questions")
    return facts


def pair(question: str, answer: str) -> Pair:
    return {"instruction": question, "input": "", "output": answer}


def build(facts: list[dict[str, Any]]) -> tuple[list[Pair], list[Pair]]:
    """Return (train, heldout) Alpaca lists, in facts.json order."""
    train = [pair(q, f["answer"]) for f in facts for q in f["train"]]
    heldout = [pair(q, f["answer"]) for f in facts for q in f["heldout"]]
    return train, heldout


def dumps(pairs: list[Pair]) -> str:
    """Serialise exactly as the committed train.json / heldout.json are written."""
    return json.dumps(pairs, ensure_ascii=False, indent=2) + "\n"


def write(out_dir: Path = HERE, facts_path: Path = FACTS_PATH) -> tuple[int, int]:
    """Rebuild train.json and heldout.json into out_dir; return their pair counts."""
    train, heldout = build(load_facts(facts_path))
    (out_dir / TRAIN_PATH.name).write_text(dumps(train), encoding="utf-8")
    (out_dir / HELDOUT_PATH.name).write_text(dumps(heldout), encoding="utf-8")
    return len(train), len(heldout)


def main() -> None:
    n_train, n_heldout = write()
    sys.stdout.write(f"wrote {n_train} train and {n_heldout} held-out pairs\n")


if __name__ == "__main__":
    main()
