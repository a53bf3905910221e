"""`/v1/files`: uploads of datasets and documents, tenant-scoped."""
