"""Eval runs (OpenAI's Evals API): samples graded by an eval's testing criteria."""
