"""SensorThings HistoricalLocations: when a thing got its location(s)

FeaturesOfInterest need no table: a Location is read as the FeatureOfInterest of its things'
observations (docs/services/sensors.md, "SensorThings").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "historical_locations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("thing_id", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_historical_locations_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_historical_locations")),
    )
    op.create_index(
        "ix_historical_locations_thing_id", "historical_locations", ["thing_id", "time"]
    )
    op.create_table(
        "historical_location_locations",
        sa.Column("historical_location_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["historical_location_id"],
            ["historical_locations.id"],
            name=op.f("fk_historical_location_locations_historical_location_id_9803"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_historical_location_locations_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "historical_location_id", "location_id", name=op.f("pk_historical_location_locations")
        ),
    )
    op.create_index(
        op.f("ix_historical_location_locations_location_id"),
        "historical_location_locations",
        ["location_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_historical_location_locations_location_id"),
        table_name="historical_location_locations",
    )
    op.drop_table("historical_location_locations")
    op.drop_index("ix_historical_locations_thing_id", table_name="historical_locations")
    op.drop_table("historical_locations")
