"""`/v1/fine_tuning/jobs`: the OpenAI fine-tuning API over the trainer workers."""
