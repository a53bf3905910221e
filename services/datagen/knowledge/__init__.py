"""Knowledge bases: ingestion into Qdrant and retrieval (hit testing, RAG)."""
