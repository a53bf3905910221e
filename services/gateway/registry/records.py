"""Protobuf messages in the registry's JSON columns, the one place they cross between
protobuf and JSON: a job's typed spec (`jobs.spec`: a resume queues the very message the
job was created with) and what job events carry (`job_events.data`, `jobs.result`,
`jobs.error`). Protobuf's canonical JSON form with the .proto field names (unset fields
left out, int64 as strings), so the API views read plain keys."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message

from tuneloop_core.errors import InternalError

SpecT = TypeVar("SpecT", bound=Message)


def record(message: Message) -> dict[str, Any]:
    """The row's JSON of a message: a typed spec, an event's payload, a result, an error."""
    return MessageToDict(message, preserving_proto_field_name=True)


def from_record(row: dict[str, Any], spec_type: type[SpecT]) -> SpecT:
    """The typed spec a row was created with. Keys the message no longer has are ignored,
    so a row written before a field was removed can still be resumed."""
    try:
        return ParseDict(row, spec_type(), ignore_unknown_fields=True)
    except ParseError as exc:
        name = spec_type.DESCRIPTOR.full_name
        raise InternalError(f"the job's stored spec is not a valid {name}: {exc}") from exc


def spec_view(row: dict[str, Any], spec_type: type[Message]) -> dict[str, Any]:
    """A job's spec as the API's `spec` object shows it: every field of the kind's message,
    empty ones included (an unset `optional` field, which means "auto", stays out), and
    int64 fields as JSON numbers like every other number."""
    spec = from_record(row, spec_type)
    view = MessageToDict(
        spec, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _int64_as_numbers(cast(Descriptor, spec_type.DESCRIPTOR), view)


INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
    }
)


def _int64_as_numbers(descriptor: Descriptor, view: dict[str, Any]) -> dict[str, Any]:
    """Protobuf JSON writes int64 as strings; the message's own descriptor says which."""
    for field in descriptor.fields:
        if field.name not in view:
            continue
        value = view[field.name]
        if field.type in INT64_TYPES:
            view[field.name] = [int(v) for v in value] if isinstance(value, list) else int(value)
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            items = value if isinstance(value, list) else [value]
            for item in items:
                _int64_as_numbers(field.message_type, item)
    return view
