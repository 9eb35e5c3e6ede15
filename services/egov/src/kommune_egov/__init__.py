"""Kommune egov: citizen e-services."""
