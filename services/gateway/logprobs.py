"""Per-token log-probabilities as the gateway hands them out, shared by chat and completions:
the inference service's `TokenLogprob` messages as plain values, matched to the text they
make up. No OpenAI shapes here.

A choice's tokens are matched to its text by their bytes: each token goes out with the
delta whose text completes it (the engine may hold text back, a partial UTF-8 character or
the possible start of a stop string, after its tokens came), so a streamed chunk carries
the logprobs of its own text. At the end, tokens past the end of the text are left out: the
end-of-sequence token, and the tokens of a stop string the text was cut at (a token the text
ends inside stays). So a choice's tokens, their bytes joined, are its text.

A token whose bytes are not whole UTF-8 characters (a character split across tokens) is
shown as OpenAI shows it, `bytes:\\xe5\\x87`: the text `bytes:` then each byte as `\\x`
and two hex digits; its raw values are in `token_bytes`.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from tuneloop.inference.v1 import inference_pb2

LOWEST_LOGPROB = -9999.0  # OpenAI's stand-in for -inf, which JSON cannot hold


def token_text(token_bytes: bytes) -> str:
    """The token as text, or `bytes:\\x..` where it holds part of a UTF-8 character."""
    try:
        return token_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in token_bytes)


@dataclass(frozen=True)
class Alternative:
    """One of the most likely tokens at a position."""

    token_bytes: bytes
    logprob: float

    @property
    def token(self) -> str:
        return token_text(self.token_bytes)


@dataclass(frozen=True)
class TokenLogprob:
    """A token's natural-log probability (None for the first prompt token, which has no
    context) and the most likely tokens at its position, most likely first."""

    token_bytes: bytes
    logprob: float | None
    top: tuple[Alternative, ...] = ()

    @property
    def token(self) -> str:
        return token_text(self.token_bytes)


def _clamped(logprob: float) -> float:
    return max(logprob, LOWEST_LOGPROB)


def from_pb(tokens: Iterable[inference_pb2.TokenLogprob]) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token_bytes=t.token_bytes,
            logprob=_clamped(t.logprob) if t.HasField("logprob") else None,
            top=tuple(Alternative(a.token_bytes, _clamped(a.logprob)) for a in t.top),
        )
        for t in tokens
    ]


def char_offsets(tokens: list[TokenLogprob], start: int) -> list[int]:
    """Where each token starts in the text its bytes make, in characters counted from
    `start`; a token that begins inside a character (split across tokens) gets where that
    character starts."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offsets = []
    at = start
    for token in tokens:
        offsets.append(at)
        at += len(decoder.decode(token.token_bytes))  # a partial character waits
    return offsets


class TextAligner:
    """Matches one choice's tokens to its text as both arrive (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: deque[TokenLogprob] = deque()
        self._unmatched = 0  # bytes of text given out that no token has covered yet

    def feed(self, text: str, tokens: list[TokenLogprob], final: bool) -> list[TokenLogprob]:
        """The tokens that `text` (the next delta) completes; with `final`, also a token
        the text ends inside, and the rest are dropped."""
        self._pending.extend(tokens)
        self._unmatched += len(text.encode())
        matched = []
        while self._pending and len(self._pending[0].token_bytes) <= self._unmatched:
            token = self._pending.popleft()
            self._unmatched -= len(token.token_bytes)
            matched.append(token)
        if final:
            if self._pending and self._unmatched > 0:
                matched.append(self._pending.popleft())
            self._pending.clear()
            self._unmatched = 0
        return matched
