"""Observation ingestion: validation, privacy filter, Kafka, COPY into partitions, roll-ups."""
