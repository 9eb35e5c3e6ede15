"""kommune_gateway."""
