"""Filing what other services hand over (applications from the citizen portal)."""
