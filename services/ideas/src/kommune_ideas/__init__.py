"""kommune_ideas."""
