"""Object ids in the OpenAI style: a prefix naming the kind, then random characters."""

from __future__ import annotations

import secrets
import string

# Prefixes of every id kind, so a newcomer sees them in one place.
PREFIXES = {
    "file": "file",
    "fine_tune": "ftjob",
    "checkpoint": "ckpt",
    "datagen": "dgjob",
    "evaluation": "evaljob",
    "comparison": "cmpjob",
    "export": "export",
    "kb_ingest": "kbjob",
    "knowledge_base": "kb",
    "tenant": "tenant",
    "key": "key",
}

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `ftjob-AbC123…`; 24 base-62 characters is about 143 bits."""
    return f"{prefix}-{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"
