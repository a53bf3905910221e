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
    "eval": "eval",
    "eval_run": "evalrun",
    "output_item": "outputitem",
    "batch": "batch_",  # OpenAI's own shape, e.g. batch_abc123
    "batch_request": "batch_req_",
    "knowledge_base": "kb",
    "tenant": "tenant",
    "key": "key",
    "adapter": "adapter",
}

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `ftjob-AbC123…` (a prefix ending in "_" is followed directly:
    `batch_AbC123…`); 24 base-62 characters is about 143 bits."""
    separator = "" if prefix.endswith("_") else "-"
    return f"{prefix}{separator}{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"
