"""Documents in: parsing (PDF, DOCX, Markdown, text, HTML) and heading-aware chunking."""
