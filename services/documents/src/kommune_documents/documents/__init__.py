"""Documents with versions, and their content in the content-addressed store."""
