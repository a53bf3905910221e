"""Grammar-constrained decoding for engines that expose the logits (transformers,
llama.cpp): each constrained row of a batch has an xgrammar matcher that masks the tokens
its grammar does not allow at the next step. vLLM enforces the same grammar itself.

The vocabulary's bytes xgrammar works out for masking are also what logprobs show of each
token (`GrammarCompiler.token_bytes`, `hf_token_bytes`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class GrammarCompiler:
    """Compiles grammar texts against one tokenizer (xgrammar caches the results)."""

    def __init__(self, tokenizer_info: Any):
        import xgrammar as xgr

        self._compiler = xgr.GrammarCompiler(tokenizer_info, max_threads=2)
        self.vocab_size = int(tokenizer_info.vocab_size)
        # Each token's bytes, index = id: b"" past the tokenizer's own tokens (a padded
        # embedding), a special token's text for a Hugging Face one.
        self.token_bytes: list[bytes] = list(tokenizer_info.decoded_vocab)

    @classmethod
    def for_hf(cls, tokenizer: Any, vocab_size: int, eos: set[int]) -> GrammarCompiler:
        return cls(_hf_tokenizer_info(tokenizer, vocab_size, eos))

    @classmethod
    def for_token_bytes(cls, pieces: Sequence[bytes], eos: set[int]) -> GrammarCompiler:
        """Over a vocabulary given as each token's bytes, index = token id (llama.cpp's).
        A control token's piece must be b"": xgrammar never lets an empty token stand for
        text, so `<|im_end|>` cannot appear inside a JSON string."""
        import xgrammar as xgr

        info = xgr.TokenizerInfo(
            list(pieces), xgr.VocabType.RAW, vocab_size=len(pieces), stop_token_ids=sorted(eos)
        )
        return cls(info)

    def matcher(self, grammar: str | None) -> Any:
        """A fresh matcher for `grammar`, or None for free text."""
        if grammar is None:
            return None
        import xgrammar as xgr

        return xgr.GrammarMatcher(self._compiler.compile_grammar(grammar))


def _hf_tokenizer_info(tokenizer: Any, vocab_size: int, eos: set[int]) -> Any:
    import xgrammar as xgr

    # No stop tokens given: xgrammar finds the tokenizer's own.
    return xgr.TokenizerInfo.from_huggingface(
        tokenizer, vocab_size=vocab_size, stop_token_ids=sorted(eos) or None
    )


def hf_token_bytes(tokenizer: Any, vocab_size: int) -> list[bytes]:
    """`GrammarCompiler.token_bytes` for an engine that masks no grammar itself (vLLM)."""
    return list(_hf_tokenizer_info(tokenizer, vocab_size, set()).decoded_vocab)


class GrammarMask:
    """Masks a batch's logits step by step: row i follows `matchers[i]` (None = free).

    Call `step(last_tokens, logits)` before sampling each token; `last_tokens` are the
    tokens sampled at the previous step (None at the first)."""

    def __init__(self, matchers: Sequence[Any], vocab_size: int):
        import xgrammar as xgr

        self._matchers = list(matchers)
        self._vocab_size = vocab_size
        self._bitmask = xgr.allocate_token_bitmask(len(self._matchers), vocab_size)

    @property
    def active(self) -> bool:
        return any(m is not None for m in self._matchers)

    def accept(self, last_tokens: Sequence[int]) -> None:
        for row, (matcher, token) in enumerate(zip(self._matchers, last_tokens, strict=True)):
            if matcher is None or matcher.is_terminated():
                continue
            if not matcher.accept_token(int(token)):
                # Only a row that already stopped (max_tokens, a stop string, a cancelled
                # client) is fed padding the grammar refuses: it stays free from here.
                self._matchers[row] = None

    def apply(self, logits: Any) -> None:
        """Mask `logits` (a torch tensor, batch × vocab) in place."""
        import xgrammar as xgr

        rows = []
        for row, matcher in enumerate(self._matchers):
            if matcher is not None and not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self._bitmask, row)
                rows.append(row)
        if rows:
            xgr.apply_token_bitmask_inplace(
                logits, self._bitmask, vocab_size=self._vocab_size, indices=rows
            )


class GrammarLogitsProcessor:
    """A transformers LogitsProcessor over a GrammarMask."""

    def __init__(self, mask: GrammarMask):
        self._mask = mask
        self._first = True

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self._first:
            self._mask.accept(input_ids[:, -1].tolist())
        self._first = False
        self._mask.apply(scores)
        return scores
