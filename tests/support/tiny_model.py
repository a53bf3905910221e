"""A tiny Llama model built locally (random weights, a byte-level BPE tokenizer trained on
text written here, a ChatML chat template), and LoRA adapters for it. Nothing is
downloaded; building takes about a second."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "公文的主旨應簡明扼要，說明與辦法分項條列。",
    "The quick brown fox jumps over the lazy dog.",
    "函是機關之間往來公文的主要類別。受文者、速別、密等與發文字號都在文首。",
    "Tuneloop turns documents into a fine-tuned model you can chat with.",
    "Hello world, hello model, hello adapter. 你好，世界。",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000",
]


def build_tiny_model(path: Path, *, seed: int = 0, context_length: int = 256) -> Path:
    """Write a loadable model directory (config, safetensors, tokenizer) to `path`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = context_length
    fast.save_pretrained(path)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=128,  # 4 heads of 32: vLLM's CPU attention needs a head size >= 32
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context_length,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.2,  # the default 0.02 makes greedy output repeat one token
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(path)
    return path


def build_tiny_adapter(base: Path, path: Path, *, seed: int = 1, rank: int = 8) -> Path:
    """A LoRA adapter on every linear layer with random (non-zero) weights, so its greedy
    output differs from the base model's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        init_lora_weights=False,  # random A and B: a visible change, unlike a fresh adapter
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(4.0)  # make the change large enough to flip greedy tokens
    peft_model.save_pretrained(path)
    (path / "tuneloop.json").write_text(json.dumps({"base_model": str(base)}))
    return path


def forward_logprobs(tiny: dict[str, Path], adapter: str | None, ids: list[int]) -> Any:
    """Log-softmax of plain transformers (+ PEFT) logits over `ids` for the tiny model
    (`tiny["base"]`, adapters by name): row i scores ids[i + 1]. A reference for engines'
    logprobs."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny["base"], dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, tiny[adapter])
    with torch.inference_mode():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
