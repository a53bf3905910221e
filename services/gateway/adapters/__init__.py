"""`/v1/adapters`: LoRA adapters trained elsewhere, validated, kept and served by name."""
