"""`POST /v1/datasets/validate`: any uploaded dataset file → a validation report."""
