from kommune.migrations import run_migrations
from kommune_documents.models import metadata
from kommune_documents.settings import DocumentsSettings

run_migrations(metadata, DocumentsSettings().database_url)
