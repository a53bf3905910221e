"""Ollama's native API (`/api/*`), translated onto the gateway's generation path."""
