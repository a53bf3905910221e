"""Comparison jobs: every model answers every question, for people to judge side by side."""
