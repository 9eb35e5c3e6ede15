from kommune.migrations import run_migrations
from kommune_egov.models import metadata
from kommune_egov.settings import EgovSettings

run_migrations(metadata, EgovSettings().database_url)
