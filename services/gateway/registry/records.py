"""Protobuf messages in the registry's JSON columns, the one place they cross between
protobuf and JSON: a job's typed spec (`jobs.spec`: a resume queues the very message the
job was created with) and what job events carry (`job_events.data`, `jobs.result`,
`jobs.error`). Protobuf's JSON form with the .proto field names and int64 fields as
numbers, so the API views read plain keys and values."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message

from tuneloop_core.errors import InternalError

SpecT = TypeVar("SpecT", bound=Message)


def record(message: Message) -> dict[str, Any]:
    """The row's JSON of a message: a typed spec, an event's payload, an error. Unset
    fields are left out; int64 fields are JSON numbers like every other number."""
    view = MessageToDict(message, preserving_proto_field_name=True)
    return _int64_as_numbers(cast(Descriptor, message.DESCRIPTOR), view)


def full_record(message: Message) -> dict[str, Any]:
    """A message with every field, empty ones included (an unset `optional` field stays
    out), as a job's `result` and the API's `spec` show it: a count of 0 is shown as 0."""
    view = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _int64_as_numbers(cast(Descriptor, message.DESCRIPTOR), view)


def from_record(row: dict[str, Any], spec_type: type[SpecT]) -> SpecT:
    """The typed spec a row was created with. Keys the message no longer has are ignored,
    so a row written before a field was removed can still be resumed."""
    try:
        return ParseDict(row, spec_type(), ignore_unknown_fields=True)
    except ParseError as exc:
        name = spec_type.DESCRIPTOR.full_name
        raise InternalError(f"the job's stored spec is not a valid {name}: {exc}") from exc


def result_record(message: Message) -> dict[str, Any]:
    """A job's typed result as `jobs.result` keeps it: `full_record`, and an unset `optional`
    field or sub-message is null (e.g. a matrix row's `epoch` for the base model), so every
    key of the result is always there."""
    return _unset_as_null(message, full_record(message))


def spec_view(row: dict[str, Any], spec_type: type[Message]) -> dict[str, Any]:
    """A job's spec as the API's `spec` object shows it: every field of the kind's message
    (an unset `optional` field, which means "auto", stays out)."""
    return full_record(from_record(row, spec_type))


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
        elif (inner := _plain_message(field)) is not None:
            for item in value if isinstance(value, list) else [value]:
                _int64_as_numbers(inner, item)
    return view


def _plain_message(field: FieldDescriptor) -> Descriptor | None:
    """The message type of a field holding one of our messages; None for scalars, maps
    and well-known types (a Note's Struct), whose JSON has no int64 strings."""
    kind = field.message_type
    if kind is None or kind.GetOptions().map_entry or kind.full_name.startswith("google."):
        return None
    return kind


def _unset_as_null(message: Message, view: dict[str, Any]) -> dict[str, Any]:
    for field in cast(Descriptor, message.DESCRIPTOR).fields:
        inner = _plain_message(field)
        if field.is_repeated:
            if inner is not None and field.name in view:
                for item, item_view in zip(
                    getattr(message, field.name), view[field.name], strict=True
                ):
                    _unset_as_null(item, item_view)
        elif field.has_presence and not message.HasField(field.name):
            view[field.name] = None
        elif inner is not None:
            _unset_as_null(getattr(message, field.name), view[field.name])
    return view
