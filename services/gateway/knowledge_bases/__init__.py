"""`/v1/knowledge_bases`: create, add documents, search (hit testing), list, delete."""
