"""Versioned YAML training recipes and their schema."""
