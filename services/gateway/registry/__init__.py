"""The job registry: tenants, API keys, files, jobs, events, models (SQLAlchemy)."""
