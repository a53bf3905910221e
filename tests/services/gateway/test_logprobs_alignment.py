"""Matching a choice's tokens to its text, and showing tokens that hold part of a UTF-8
character (services/gateway/logprobs.py)."""

from __future__ import annotations

from services.gateway.logprobs import TextAligner, TokenLogprob, char_offsets, token_text


def _tokens(*pieces: bytes) -> list[TokenLogprob]:
    return [TokenLogprob(token_bytes=p, logprob=-1.0) for p in pieces]


def test_tokens_inside_a_character_are_shown_as_bytes() -> None:
    assert token_text(b" Paris") == " Paris"
    east = "東".encode()
    assert token_text(east[:2]) == "bytes:\\xe6\\x9d"
    assert char_offsets(_tokens(b"a", east[:2], east[2:], b"b"), start=5) == [5, 6, 6, 7]


def test_tokens_go_out_with_the_text_they_make() -> None:
    aligner = TextAligner()
    east = "東".encode()
    # The engine holds a partial character back: its tokens wait for the text.
    assert aligner.feed("", _tokens(east[:2]), final=False) == []
    completed = aligner.feed("東 ", _tokens(east[2:], b" "), final=False)
    assert completed == _tokens(east[:2], east[2:], b" ")
    # The end-of-sequence token is past the end of the text: left out.
    assert aligner.feed("", _tokens(b"<|im_end|>"), final=True) == []


def test_a_stop_string_drops_the_tokens_past_the_text() -> None:
    aligner = TextAligner()
    # Text cut inside " Paris." at the stop string ".", then "\n" generated past it.
    assert aligner.feed(" Par", _tokens(b" Par"), final=False) == _tokens(b" Par")
    assert aligner.feed("is", _tokens(b"is.", b"\n"), final=True) == _tokens(b"is.")
