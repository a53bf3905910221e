"""Real datasets: LLaMA-Factory's demo files and its dataset_info.json, as they are, and
Tuneloop's own 公文 sample. Expected counts come from the raw JSON, not from constants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tuneloop_core.datasets import (
    Container,
    DatasetFormat,
    llamafactory_dataset,
    load_dataset_info,
    validate_dataset,
)
from tuneloop_core.errors import InvalidRequestError

REPO = Path(__file__).resolve().parents[3]
PEER = REPO.parent / "shared" / "peer-data" / "llamafactory"
GONGWEN = REPO / "samples" / "gongwen" / "train.json"
PEER_FILES = ["alpaca_zh_demo", "alpaca_en_demo", "identity"]

needs_peer_data = pytest.mark.skipif(not PEER.is_dir(), reason=f"{PEER} is absent")


def raw(path: Path) -> list[dict[str, Any]]:
    records = json.loads(path.read_text("utf-8-sig"))
    assert isinstance(records, list)
    return records


def expected_duplicates(records: list[dict[str, Any]]) -> int:
    """Records identical (as Alpaca turns) to an earlier record."""
    seen: set[str] = set()
    duplicates = 0
    for r in records:
        user = "\n".join(p for p in (r["instruction"], r.get("input") or "") if p)
        key = json.dumps([r.get("system") or "", r.get("history") or [], user, r["output"]])
        duplicates += key in seen
        seen.add(key)
    return duplicates


@needs_peer_data
@pytest.mark.parametrize("name", PEER_FILES)
def test_peer_files_parse_with_zero_errors(name: str) -> None:
    path = PEER / f"{name}.json"
    records = raw(path)

    report = validate_dataset(path)

    assert report.ok, report.summary()
    assert (report.format, report.container) == (DatasetFormat.ALPACA, Container.JSON_ARRAY)
    assert report.records == report.valid == len(records)
    assert report.duplicates == expected_duplicates(records)
    assert report.chars is not None and report.chars.min > 0


@needs_peer_data
@pytest.mark.parametrize("name", PEER_FILES)
def test_peer_files_through_llamafactory_dataset_info(name: str) -> None:
    info = load_dataset_info(PEER / "dataset_info.json")
    dataset = llamafactory_dataset(info, name, PEER)

    report = validate_dataset(dataset.path, schema=dataset.schema)

    assert dataset.path == (PEER / info[name]["file_name"]).resolve()
    assert report.ok, report.summary()
    assert report.valid == len(raw(dataset.path))


@needs_peer_data
def test_identity_placeholders_are_read_as_they_are() -> None:
    from tuneloop_core.datasets import read_dataset

    data = read_dataset(PEER / "identity.json")
    texts = [turn.content for c in data.conversations for turn in c.turns]
    raw_outputs = [r["output"] for r in raw(PEER / "identity.json")]
    assert [c.answer for c in data.conversations] == raw_outputs
    assert any("{{name}}" in t for t in texts) and any("{{author}}" in t for t in texts)


@needs_peer_data
def test_hub_and_unsupported_entries_of_the_real_dataset_info_are_refused() -> None:
    info = load_dataset_info(PEER / "dataset_info.json")
    hub = next(name for name, entry in info.items() if "hf_hub_url" in entry)
    cases = {
        hub: "reads local files only",
        "dpo_en_demo": "does not exist",  # a preference dataset: read, but not shipped
        "mllm_demo": "images",
        "wiki_demo": "no 'response' column",  # pretraining text
        "c4_demo": "no 'response' column",
        "glaive_toolcall_en_demo": "does not exist",  # not shipped in peer-data
    }
    for name, needle in cases.items():
        if name not in info:
            continue
        with pytest.raises(InvalidRequestError) as caught:
            llamafactory_dataset(info, name, PEER)
        assert needle in caught.value.message, (name, caught.value.message)


def test_gongwen_sample_parses_with_zero_errors() -> None:
    report = validate_dataset(GONGWEN)
    assert report.ok, report.summary()
    assert report.format is DatasetFormat.ALPACA
    assert report.records == report.valid == len(raw(GONGWEN))
