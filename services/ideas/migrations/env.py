from kommune.migrations import run_migrations
from kommune_ideas.models import metadata
from kommune_ideas.settings import IdeasSettings

run_migrations(metadata, IdeasSettings().database_url)
