"""Services share code only through tuneloop_core and the generated contracts: no service
imports another service's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
NAMES = sorted(p.name for p in SERVICES.iterdir() if (p / "__init__.py").is_file())


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_every_deployable_is_checked() -> None:
    assert NAMES == ["datagen", "evaluator", "gateway", "inference", "trainer"]


@pytest.mark.parametrize("service", NAMES)
def test_service_imports_no_other_service(service: str) -> None:
    offenders = []
    for path in sorted((SERVICES / service).rglob("*.py")):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
                offenders.append(f"{path.relative_to(SERVICES)} imports {module}")
    assert offenders == []


def test_shared_runtime_imports_no_service() -> None:
    core = SERVICES.parent / "tuneloop_core"
    offenders = [
        f"{path.relative_to(core)} imports {module}"
        for path in sorted(core.rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0] == "services"
    ]
    assert offenders == []
