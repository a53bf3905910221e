"""The contracts: gen/ is what `make proto` writes today, and every .proto follows the
buf style guide (checked on descriptors compiled with source info, so comments count)."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
GEN_ROOT = REPO / "gen"
WELL_KNOWN = Path(protoc.__file__).parent / "_proto"

LOWER_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PACKAGE = re.compile(r"^tuneloop\.([a-z][a-z0-9_]*)\.v1$")

# Field numbers in descriptor.proto, the steps of a SourceCodeInfo path.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2

Path_ = tuple[int, ...]


def load_generate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tuneloop_proto_generate", PROTO_ROOT / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_files(root: Path) -> dict[str, bytes]:
    """Relative path → bytes of every generated file (bytecode caches aside)."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_gen_is_up_to_date(tmp_path: Path) -> None:
    load_generate_module().generate(tmp_path)

    fresh = generated_files(tmp_path / "tuneloop")
    committed = generated_files(GEN_ROOT / "tuneloop")
    assert fresh, "generate() wrote nothing"
    missing = sorted(set(fresh) - set(committed))
    extra = sorted(set(committed) - set(fresh))
    assert not missing, f"gen/ lacks {missing}; run `make proto`"
    assert not extra, f"gen/ has files generate() no longer writes: {extra}"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"gen/ is stale in {stale}; run `make proto`"


# --- buf-style lint ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def our_files(tmp_path_factory: pytest.TempPathFactory) -> list[descriptor_pb2.FileDescriptorProto]:
    out = tmp_path_factory.mktemp("descriptors") / "set.pb"
    protos = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "tuneloop").rglob("*.proto")
    )
    assert protos
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{WELL_KNOWN}",
            "--include_source_info",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *protos,
        ]
    )
    assert status == 0, "protoc failed"
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    files = [f for f in descriptor_set.file if f.name.startswith("tuneloop/")]
    assert sorted(f.name for f in files) == protos
    return files


def upper_snake(name: str) -> str:
    """ "JobStatus" → "JOB_STATUS", "HTTPCode" → "HTTP_CODE"."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).upper()


def walk_messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], path: Path_, prefix: str
) -> Iterator[tuple[descriptor_pb2.DescriptorProto, Path_, str]]:
    """Every message, nested ones included: (message, source path, qualified name). The
    entry messages protoc synthesises for map fields are not ours and are left out."""
    for i, message in enumerate(messages):
        if message.options.map_entry:
            continue
        here = (*path, i)
        name = f"{prefix}.{message.name}"
        yield message, here, name
        yield from walk_messages(message.nested_type, (*here, MESSAGE_NESTED), name)


def every_enum(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[descriptor_pb2.EnumDescriptorProto, Path_, str]]:
    for i, enum in enumerate(file.enum_type):
        yield enum, (FILE_ENUM, i), f"{file.package}.{enum.name}"
    for message, path, name in walk_messages(file.message_type, (FILE_MESSAGE,), file.package):
        for i, enum in enumerate(message.enum_type):
            yield enum, (*path, MESSAGE_ENUM, i), f"{name}.{enum.name}"


def test_packages_are_versioned_and_match_their_folder(
    our_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    for file in our_files:
        match = PACKAGE.match(file.package)
        assert match, f"{file.name}: package {file.package!r} is not tuneloop.<area>.v1"
        folder = f"tuneloop/{match.group(1)}/v1"
        assert str(Path(file.name).parent) == folder, f"{file.name} is not in {folder}/"


def test_services_and_rpcs_are_named_by_the_style_guide(
    our_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    used: Counter[str] = Counter()
    services = 0
    for file in our_files:
        for service in file.service:
            services += 1
            assert service.name.endswith("Service"), f"{file.name}: {service.name}"
            for method in service.method:
                where = f"{file.name}: {service.name}.{method.name}"
                assert method.input_type == f".{file.package}.{method.name}Request", where
                assert method.output_type == f".{file.package}.{method.name}Response", where
                used.update([method.input_type, method.output_type])
    assert services > 0
    shared = [name for name, count in used.items() if count > 1]
    assert not shared, f"request/response types used by more than one rpc: {shared}"


def test_enum_zero_values_are_unspecified(
    our_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    for file in our_files:
        for enum, _, name in every_enum(file):
            zero = enum.value[0]
            expected = f"{upper_snake(enum.name)}_UNSPECIFIED"
            assert (zero.name, zero.number) == (expected, 0), f"{file.name}: {name}"


def test_field_names_are_lower_snake_case(
    our_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    for file in our_files:
        for message, _, name in walk_messages(file.message_type, (FILE_MESSAGE,), file.package):
            for field in message.field:
                assert LOWER_SNAKE.match(field.name), f"{file.name}: {name}.{field.name}"


def documentable(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[Path_, str]]:
    """(source path, description) of every message, field, enum, enum value, service and
    rpc of a file."""
    for message, path, name in walk_messages(file.message_type, (FILE_MESSAGE,), file.package):
        yield path, f"message {name}"
        for i, field in enumerate(message.field):
            yield (*path, MESSAGE_FIELD, i), f"field {name}.{field.name}"
    for enum, path, name in every_enum(file):
        yield path, f"enum {name}"
        for i, value in enumerate(enum.value):
            yield (*path, ENUM_VALUE, i), f"enum value {name}.{value.name}"
    for s, service in enumerate(file.service):
        yield (FILE_SERVICE, s), f"service {service.name}"
        for m, method in enumerate(service.method):
            yield (FILE_SERVICE, s, SERVICE_METHOD, m), f"rpc {service.name}.{method.name}"


def test_every_element_has_a_comment(our_files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    undocumented: list[str] = []
    for file in our_files:
        assert file.source_code_info.location, f"{file.name}: compiled without source info"
        commented = {
            tuple(location.path)
            for location in file.source_code_info.location
            if location.leading_comments.strip() or location.trailing_comments.strip()
        }
        undocumented += [
            f"{file.name}: {what}" for path, what in documentable(file) if path not in commented
        ]
    assert not undocumented, "\n".join(["elements without a comment:", *undocumented])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("JobStatus", "JOB_STATUS"),
        ("Role", "ROLE"),
        ("HTTPCode", "HTTP_CODE"),
        ("V1Kind", "V1_KIND"),
    ],
)
def test_upper_snake(name: str, expected: str) -> None:
    assert upper_snake(name) == expected
