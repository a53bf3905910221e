"""OpenAI Evals API graders run by the evaluator."""
