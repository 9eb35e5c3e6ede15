"""Ideas: the change agents' posts, their status workflow, history and search."""
