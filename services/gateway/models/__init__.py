"""`/v1/models`: base models and adapters, as the inference service lists them."""
