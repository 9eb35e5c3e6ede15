"""Open data: a DCAT-AP.de catalogue and its datasets as CSV and JSON, for everyone."""
