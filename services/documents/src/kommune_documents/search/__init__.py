"""Full-text search over documents, filtered by the caller's access inside the query."""
