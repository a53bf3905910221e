"""A LoRA adapter made outside Tuneloop (PEFT on the stack's tiny base), packed the way a
user uploads one to /v1/adapters."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from support.stack import TINY, ApiStack
from support.tiny_model import build_tiny_adapter
from tuneloop_core import basemodels


def packed_tiny_adapter(stack: ApiStack) -> bytes:
    """A .tar.gz of a PEFT adapter folder on TINY, built outside the data directory."""
    base = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    folder = build_tiny_adapter(base, stack.common.data_dir.parent / "outside" / "lora")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="lora")
    return buffer.getvalue()
