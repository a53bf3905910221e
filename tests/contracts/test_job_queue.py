"""The job queue's wire contract, checked like `buf breaking` against a lock file.

What travels on JOBS and EVENTS (`JobRequested`, `JobEvent` and every message they carry)
must stay readable by workers and gateways of the previous release: a field keeps its
number, type and cardinality, and a removed field's number is reserved, never reused.
`proto/job_queue.lock.json` records the contract as released; a change that only adds is
recorded with `UPDATE_JOB_QUEUE_LOCK=1 pytest tests/contracts/test_job_queue.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tuneloop.events.v1 import events_pb2

LOCK = Path(__file__).resolve().parents[2] / "proto" / "job_queue.lock.json"
ROOTS = (events_pb2.JobRequested.DESCRIPTOR, events_pb2.JobEvent.DESCRIPTOR)
Schema = dict[str, dict[str, Any]]


def _field(field: FieldDescriptor) -> list[Any]:
    """[number, type, repeated, presence, referenced type]: presence is what makes an unset
    `optional` field mean "auto", so losing it changes what a spec says."""
    referenced = field.message_type or field.enum_type
    return [
        field.number,
        field.type,
        field.is_repeated,
        field.has_presence,
        referenced.full_name if referenced else "",
    ]


def _reserved(message: Descriptor) -> list[int]:
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return sorted(n for r in proto.reserved_range for n in range(r.start, r.end))


def wire_schema() -> Schema:
    """Every message reachable from the queue's two roots: its fields by name (see
    `_field`) and its reserved numbers."""
    schema: Schema = {}
    pending = list(ROOTS)
    while pending:
        message = pending.pop()
        if message.full_name in schema:
            continue
        schema[message.full_name] = {
            "fields": {f.name: _field(f) for f in message.fields},
            "reserved": _reserved(message),
        }
        pending += [f.message_type for f in message.fields if f.message_type is not None]
    return dict(sorted(schema.items()))


def breaking_changes(locked: Schema, current: Schema) -> list[str]:
    problems = []
    for name, was in locked.items():
        now = current.get(name)
        if now is None:
            problems.append(f"{name} is gone from the queue's messages")
            continue
        by_number = {spec[0]: field for field, spec in now["fields"].items()}
        for field, spec in was["fields"].items():
            number = spec[0]
            if field not in now["fields"]:
                if number not in now["reserved"]:
                    problems.append(f"{name}.{field} was removed without reserving {number}")
                continue
            if now["fields"][field] != spec:
                problems.append(f"{name}.{field} changed from {spec} to {now['fields'][field]}")
        for number in was["reserved"]:
            if number in by_number:
                problems.append(f"{name} reuses reserved number {number} ({by_number[number]})")
    return problems


def test_the_queue_contract_only_grows() -> None:
    current = wire_schema()
    if os.environ.get("UPDATE_JOB_QUEUE_LOCK") == "1":
        locked = json.loads(LOCK.read_text()) if LOCK.exists() else {}
        assert not breaking_changes(locked, current), "the lock records releases: fix the proto"
        LOCK.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    locked = json.loads(LOCK.read_text())
    assert not breaking_changes(locked, current)
    assert locked == current, (
        "the queue's messages grew: record it with "
        "UPDATE_JOB_QUEUE_LOCK=1 pytest tests/contracts/test_job_queue.py"
    )


def test_the_check_sees_what_buf_breaking_sees() -> None:
    locked = wire_schema()
    request = "tuneloop.events.v1.JobRequested"
    renumbered = json.loads(json.dumps(locked))
    renumbered[request]["fields"]["job_id"][0] = 99
    assert "changed" in breaking_changes(locked, renumbered)[0]
    dropped = json.loads(json.dumps(locked))
    del dropped[request]["fields"]["attempt"]
    assert "without reserving" in breaking_changes(locked, dropped)[0]
    dropped[request]["reserved"].append(locked[request]["fields"]["attempt"][0])
    assert breaking_changes(locked, dropped) == []  # removed and reserved: fine
    reused = json.loads(json.dumps(locked))
    reused[request]["fields"]["spare"] = [4, 9, False, False, ""]  # 4 held `untyped`
    assert "reuses reserved number 4" in breaking_changes(locked, reused)[0]
