"""A tiny local model shared by the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("trainer-tiny") / "base")
