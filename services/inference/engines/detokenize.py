"""Incremental detokenization with stop strings, shared by the engines.

Text is emitted only when it is final: a trailing partial UTF-8 character (decoded as
U+FFFD) waits for the next token, and the last few characters wait until they cannot be
the start of a stop string.
"""

from __future__ import annotations

from typing import Any


class StreamingText:
    def __init__(self, tokenizer: Any, stop: tuple[str, ...]):
        self._tokenizer = tokenizer
        self._stop = tuple(s for s in stop if s)
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self.token_ids: list[int] = []
        self._emitted = 0  # characters of the decoded text already handed out
        self.stopped = False  # a stop string was found

    def _text(self) -> str:
        text: str = self._tokenizer.decode(self.token_ids, skip_special_tokens=True)
        return text

    def add(self, token_id: int) -> str:
        """Append a token; return the text that became final."""
        self.token_ids.append(token_id)
        text = self._text()
        for stop in self._stop:
            at = text.find(stop)
            if at != -1:
                self.stopped = True
                return self._take(text[:at])
        if text.endswith("\ufffd"):
            return ""
        return self._take(text[: max(self._emitted, len(text) - self._hold)])

    def flush(self) -> str:
        """The rest of the text at the end of generation."""
        if self.stopped:
            return ""
        return self._take(self._text().rstrip("\ufffd"))

    def _take(self, upto: str) -> str:
        delta = upto[self._emitted :]
        self._emitted = max(self._emitted, len(upto))
        return delta
