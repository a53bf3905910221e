"""infra/nats/streams.json (a 3-node cluster) says what tuneloop_core/bus/streams.py does."""

from __future__ import annotations

import json
from pathlib import Path

from tuneloop_core.bus.streams import stream_configs

INFRA = Path(__file__).resolve().parents[2] / "infra" / "nats" / "streams.json"
NS_PER_S = 1_000_000_000


def test_infra_streams_match_code() -> None:
    declared = {s["name"]: s for s in json.loads(INFRA.read_text())["streams"]}
    for config in stream_configs(replicas=3):
        infra = declared.pop(str(config.name))
        assert infra["subjects"] == config.subjects
        assert infra["retention"] == str(config.retention.value if config.retention else "")
        assert infra["storage"] == str(config.storage.value if config.storage else "")
        assert infra["discard"] == str(config.discard.value if config.discard else "")
        assert infra["max_age"] == int((config.max_age or 0) * NS_PER_S)
        assert infra["duplicate_window"] == int((config.duplicate_window or 0) * NS_PER_S)
        assert infra["num_replicas"] == config.num_replicas == 3
        assert infra.get("max_msgs_per_subject", -1) == (config.max_msgs_per_subject or -1)
    assert declared == {}, f"streams in infra but not in code: {sorted(declared)}"
