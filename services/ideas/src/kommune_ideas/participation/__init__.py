"""Participation in the idea store: endorsements and follows."""
