"""Kommune sensors: device registry, observation ingestion (Kafka → PostgreSQL), SensorThings."""
