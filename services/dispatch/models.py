"""Dispatch's own tables: its read models of teams and communities, the
requests it follows, their assignments and the audit trail.  No other service
reads them."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

from shared.clock import UtcDateTime
from shared.outbox import outbox_table, processed_events_table

metadata = MetaData()

teams = Table(
    "teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("community", String(64), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("radius_km", Float, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("capacity", Integer, nullable=False),
    # Offers and tasks the team holds now; changed only by a conditional update
    # (open_tasks < capacity), which is what keeps replicas from overfilling a team.
    Column("open_tasks", Integer, nullable=False, default=0),
    Column("status", String(10), nullable=False),
    Column("on_duty", Boolean, nullable=False, server_default=true()),
    # GeoJSON Polygon; when set it replaces the circle of radius_km around (lat, lon).
    Column("area", JSON, nullable=True),
    # Bumped on every applied change (never by open_tasks): replicas reload into
    # their in-memory index only the teams changed since the last one they saw.
    # Team changes take turns (store.upsert_team), so numbers commit in order.
    Column("change_seq", BigInteger, nullable=False, server_default="0"),
    Index("ix_teams_lat_lon", "lat", "lon"),
    Index("ix_teams_change_seq", "change_seq"),
)

# The spatial index: each team under the H3 cells its reach touches
# (matching.cells_for_team); a request looks up its own cells.
team_cells = Table(
    "team_cells",
    metadata,
    Column("team_id", String(36), primary_key=True),
    Column("cell", BigInteger, primary_key=True),
    # False: the cell is only reached once the search is widened.
    Column("own", Boolean, nullable=False, server_default=true()),
    # Covering: a lookup by cell reads the index alone.
    Index("ix_team_cells_lookup", "cell", "own", "team_id"),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reference", String(16), nullable=False),
    Column("category", String(40), nullable=False),
    Column("needs_volunteer", Boolean, nullable=False),
    Column("urgency", String(10), nullable=False),
    Column("urgency_rank", Integer, nullable=False),
    Column("vulnerabilities", JSON, nullable=False, server_default="[]"),
    # Higher first among requests of the same urgency (matching.vulnerability_score).
    Column("vulnerability_score", Integer, nullable=False, server_default="0"),
    Column("people", Integer, nullable=False, server_default="1"),
    Column("source", String(16), nullable=False, server_default="partner"),
    Column("community", String(64), nullable=True),
    Column("summary", Text, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("status_reason", Text, nullable=True),
    # The search was widened once past the teams' own areas.
    Column("widened", Boolean, nullable=False, server_default=false()),
    # Stored deadlines, claimed by one replica each (SKIP LOCKED):
    # waiting for capacity escalates at escalate_at; sla_due_at is when the
    # request should have been accepted by a team.
    Column("escalate_at", UtcDateTime(), nullable=True),
    Column("sla_due_at", UtcDateTime(), nullable=True),
    Column("sla_breached_at", UtcDateTime(), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Set when the retention loop removed the request's personal data
    # (summary, exact location, people's words) and kept its figures.
    Column("personal_data_removed_at", UtcDateTime(), nullable=True),
    Index("ix_requests_queue", "status", "urgency_rank", "received_at"),
    Index("ix_requests_escalate_at", "escalate_at"),
    Index("ix_requests_sla_due_at", "sla_due_at"),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), ForeignKey("requests.id"), nullable=False, index=True),
    Column("team_id", String(36), nullable=False),
    # offered, accepted, in_progress, done, declined, expired, cancelled, reassigned
    Column("state", String(20), nullable=False),
    Column("distance_km", Float, nullable=False),
    Column("offered_at", UtcDateTime(), nullable=False),
    Column("offer_expires_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Index("ix_assignments_team_state", "team_id", "state"),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("requests.id"), nullable=False, index=True),
    Column("author", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("requests.id"), nullable=False, index=True),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", UtcDateTime(), nullable=False),
)

# Read model of volunteers' communities, districts and cities
# (aid.community.changed.v1): the tree every scope check asks.
communities = Table(
    "communities",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("level", String(10), nullable=False),
    Column("parent", String(64), nullable=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("boundary", JSON, nullable=True),  # GeoJSON Polygon or MultiPolygon (lon, lat)
    Column("hotline", String(20), nullable=True),
    Column("status", String(10), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
