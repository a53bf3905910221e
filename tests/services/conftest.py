"""Settings pointing services at the test's nats-server and data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tuneloop_core.settings import CommonSettings


@pytest.fixture
def common(data_dir: Path, nats_server: Any) -> CommonSettings:
    return CommonSettings(
        data_dir=data_dir,
        nats_url=nats_server.url,
        database_url=f"sqlite:///{data_dir / 'registry.db'}",
    )
