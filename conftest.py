"""Root test configuration: the shared fixtures (real PostgreSQL and Kafka, tokens, contracts)."""

pytest_plugins = [
    "kommune.testing.infra",
    "kommune.testing.auth",
    "kommune.testing.contracts",
    "kommune.testing.keycloak",
    "kommune.testing.service",
]
