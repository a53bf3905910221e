"""A tiny Qwen2 model (random weights) with the tiny Llama's self-trained tokenizer and
ChatML template: a second architecture for tests, built locally in about a second."""

from __future__ import annotations

from pathlib import Path

from support.tiny_model import build_tiny_model


def build_tiny_qwen2(path: Path, *, seed: int = 0, context_length: int = 256) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    donor = build_tiny_model(path.with_name(path.name + "-tokenizer"), seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(donor)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.2,  # as the tiny Llama: varied greedy output
    )
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    return path
