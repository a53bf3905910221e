"""The five deployables. Each imports `tuneloop_core` and the generated contracts only."""
