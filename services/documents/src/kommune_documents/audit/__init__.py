"""The append-only audit trail: every read, download, change and refusal."""
