"""OpenAI's Evals API: evals, runs, output items, graders."""
