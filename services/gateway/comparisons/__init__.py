"""`/v1/comparisons`: models side by side on the same questions, with thumbs-up votes."""
