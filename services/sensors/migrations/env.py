from kommune.migrations import run_migrations
from kommune_sensors.models import metadata
from kommune_sensors.settings import SensorsSettings

run_migrations(metadata, SensorsSettings().database_url)
