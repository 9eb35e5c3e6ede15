from kommune.migrations import run_migrations
from kommune_gateway.models import metadata
from kommune_gateway.settings import GatewaySettings

run_migrations(metadata, GatewaySettings().database_url)
