"""The gateway: the public OpenAI-compatible HTTP API, the job registry's one writer."""
