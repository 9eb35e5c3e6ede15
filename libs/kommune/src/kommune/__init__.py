"""kommune."""
