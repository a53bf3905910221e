"""The examples an evaluation runs over: from a dataset in any accepted format (the last
assistant turn is the reference), from a file of questions without answers, or from a
predictions file made elsewhere (`prediction`/`reference` JSONL, or LLaMA-Factory's
`generated_predictions.jsonl` with `prompt`/`predict`/`label`) that is scored as it is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneloop_core.datasets import load_conversations
from tuneloop_core.errors import InvalidRequestError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Example:
    """What the model is asked (`messages`; the question as text in `question`), the
    reference answer (None when the file has none) and, for a predictions file, the
    prediction made elsewhere."""

    messages: Messages
    question: str
    reference: str | None
    prediction: str | None = None


def _question(messages: Messages) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def _records(path: Path, param: str) -> list[Any]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        if text.lstrip().startswith("["):
            data = json.loads(text)
            return list(data)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"the file is neither a JSON array nor JSONL: {exc}", param=param
        ) from None


def _open_question(record: Any) -> Messages | None:
    """The prompt of a record that has no answer: a bare string, `question`, `prompt`
    without `completion`, Alpaca with an empty `output`, or messages ending with the user."""
    if isinstance(record, str):
        return [{"role": "user", "content": record}] if record.strip() else None
    if not isinstance(record, dict):
        return None
    turns = record.get("messages")
    if isinstance(turns, list) and turns and all(isinstance(t, dict) for t in turns):
        messages = [{"role": str(t.get("role")), "content": str(t.get("content"))} for t in turns]
        return messages if messages[-1]["role"] == "user" else None
    for key in ("question", "prompt", "query"):
        if isinstance(record.get(key), str) and record[key].strip():
            return [{"role": "user", "content": record[key]}]
    instruction = record.get("instruction")
    if isinstance(instruction, str) and instruction.strip():
        extra = record.get("input")
        text = (
            f"{instruction}\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
        )
        system = record.get("system")
        head = [{"role": "system", "content": system}] if isinstance(system, str) and system else []
        return [*head, {"role": "user", "content": text}]
    return None


def load_dataset_examples(path: Path) -> tuple[list[Example], list[str]]:
    """Examples of a dataset file, and notes for the report. A file every record of which
    has a question but no answer is accepted: reference metrics are then skipped."""
    try:
        conversations = load_conversations(path, param="dataset_file")
    except InvalidRequestError as exc:
        questions = [_open_question(r) for r in _records(path, "dataset_file")]
        if not questions or any(q is None for q in questions):
            raise exc from None
        examples = [Example(q, _question(q), None) for q in questions if q is not None]
        return examples, [
            "The dataset has no reference answers: reference metrics (BLEU, ROUGE, …) are "
            "skipped; the judge scores the answers on their own."
        ]
    examples = [
        Example(c.prompt_messages(), _question(c.prompt_messages()), c.answer)
        for c in conversations
    ]
    return examples, []


def load_predictions(path: Path) -> tuple[list[Example], bool]:
    """Pairs of a predictions file, in either accepted shape, and whether the file is in
    LLaMA-Factory's format (every record has `predict` and `label`, none our keys)."""
    examples = []
    llamafactory = True
    for number, record in enumerate(_records(path, "predictions_file"), 1):
        if not isinstance(record, dict):
            raise InvalidRequestError(f"record {number} is not an object", param="predictions_file")
        prediction = record.get("prediction", record.get("predict"))
        reference = record.get("reference", record.get("label"))
        if not isinstance(prediction, str) or not isinstance(reference, str):
            raise InvalidRequestError(
                f"record {number} needs string `prediction` and `reference` (or LLaMA-Factory's "
                f"`predict` and `label`); it has {sorted(record)}",
                param="predictions_file",
            )
        llamafactory = llamafactory and "prediction" not in record and "reference" not in record
        prompt = record.get("prompt", record.get("question", ""))
        prompt = prompt if isinstance(prompt, str) else ""
        examples.append(
            Example([{"role": "user", "content": prompt}], prompt, reference, prediction)
        )
    if not examples:
        raise InvalidRequestError("the predictions file is empty", param="predictions_file")
    return examples, llamafactory
