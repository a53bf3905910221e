"""A typed job spec in the registry's `jobs.spec` JSON column: protobuf's canonical JSON
form with the .proto field names (unset fields left out, int64 as strings), so the API
views read plain keys and a resume queues the very message the job was created with. The
one place a job spec crosses between protobuf and JSON."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
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
    empty ones included (an unset `optional` field, which means "auto", stays out), and
    int64 fields as JSON numbers like every other number."""
    spec = spec_from_record(record, spec_type)
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
