"""The datagen service."""
