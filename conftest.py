"""Root test configuration: the shared fixtures of the Kommune runtime (real PostgreSQL and Kafka)."""

pytest_plugins = [
    "kommune.testing.infra",
    "kommune.testing.auth",
    "kommune.testing.contracts",
]
