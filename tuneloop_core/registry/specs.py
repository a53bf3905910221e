"""A typed job spec in the registry's `jobs.spec` JSON column: protobuf's canonical JSON
form with the .proto field names (unset fields left out, int64 as strings), so the API
views read plain keys and a resume queues the very message the job was created with. The
one place a job spec crosses between protobuf and JSON."""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message

from tuneloop_core.errors import InternalError

SpecT = TypeVar("SpecT", bound=Message)


def spec_record(spec: Message) -> dict[str, Any]:
    """The row's JSON of a typed spec."""
    return MessageToDict(spec, preserving_proto_field_name=True)


def spec_from_record(record: dict[str, Any], spec_type: type[SpecT]) -> SpecT:
    """The typed spec a row was created with. Keys the message no longer has are ignored,
    so a row written before a field was removed can still be resumed."""
    try:
        return ParseDict(record, spec_type(), ignore_unknown_fields=True)
    except ParseError as exc:
        name = spec_type.DESCRIPTOR.full_name
        raise InternalError(f"the job's stored spec is not a valid {name}: {exc}") from exc


def spec_view(record: dict[str, Any], spec_type: type[Message]) -> dict[str, Any]:
    """A job's spec as the API's `spec` object shows it: every field of the kind's message,
    empty ones included (an unset `optional` field, which means "auto", stays out)."""
    return MessageToDict(
        spec_from_record(record, spec_type),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
