"""Comments on ideas in the change agents' forum and the leaders' forum (one level of replies)."""
