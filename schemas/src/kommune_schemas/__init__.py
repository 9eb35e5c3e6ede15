"""kommune_schemas."""
