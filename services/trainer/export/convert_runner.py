"""Runs llama.cpp's `convert_hf_to_gguf.py` in its own process (see convert.py).

Run as a script, never imported by the services: it puts the converter's bundled `gguf-py`
first on `sys.path`, so that llama.cpp's own `gguf` package (which must match the converter)
is the one loaded, not the PyPI `gguf` that transformers uses elsewhere.

    python convert_runner.py <converter_dir> architectures
    python convert_runner.py <converter_dir> convert <pre_tokenizer or ""> -- <converter args>

Exit status 3 with a JSON line on stderr marks an error meant for the user.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("tuneloop.export.convert")
USER_ERROR = 3


def _fail(code: str, message: str, **data: Any) -> None:
    sys.stderr.write(json.dumps({"code": code, "message": message, **data}) + "\n")
    raise SystemExit(USER_ERROR)


def _override_pre_tokenizer(conversion: Any, pre_tokenizer: str) -> None:
    """Use `pre_tokenizer` only where llama.cpp does not recognise the tokenizer's hash; a
    recognised tokenizer keeps llama.cpp's own answer."""
    original = conversion.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self: Any, tokenizer: Any) -> str:
        try:
            return str(original(self, tokenizer))
        except NotImplementedError:
            log.warning(
                "llama.cpp does not know this tokenizer's pre-tokenizer hash; using the "
                "explicit override %r",
                pre_tokenizer,
            )
            sys.stderr.write(json.dumps({"override": pre_tokenizer}) + "\n")
            return pre_tokenizer

    conversion.TextModel.get_vocab_base_pre = get_vocab_base_pre


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    converter_dir = Path(argv[0])
    sys.path[:0] = [str(converter_dir / "gguf-py"), str(converter_dir)]
    conversion = importlib.import_module("conversion")
    if argv[1] == "architectures":
        sys.stdout.write(json.dumps(sorted(conversion.TEXT_MODEL_MAP)) + "\n")
        return
    pre_tokenizer, rest = argv[2], argv[argv.index("--") + 1 :]
    if pre_tokenizer:
        importlib.import_module("conversion.base")
        _override_pre_tokenizer(importlib.import_module("conversion.base"), pre_tokenizer)
    script = importlib.import_module("convert_hf_to_gguf")
    sys.argv = ["convert_hf_to_gguf.py", *rest]
    try:
        script.main()
    except NotImplementedError as exc:
        if "pre-tokenizer" in str(exc):
            _fail(
                "unknown_pre_tokenizer",
                "llama.cpp does not recognise this tokenizer's pre-tokenizer; name one "
                "explicitly (e.g. pre_tokenizer='gpt-2' for a GPT-2 style byte-level BPE)",
            )
        raise


if __name__ == "__main__":
    main(sys.argv[1:])
