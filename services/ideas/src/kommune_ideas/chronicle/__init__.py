"""The intranet chronicle (Chronik): news by editors, automatic entries from events, comments."""
