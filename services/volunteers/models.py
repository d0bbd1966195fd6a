"""Volunteers' own tables.  No other service reads them."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
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
    Column("community", String(64), nullable=False, index=True),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("radius_km", Float, nullable=False),
    Column("skills", JSON, nullable=False),
    Column("capacity", Integer, nullable=False),  # nominal: open tasks at once at full strength
    Column("status", String(10), nullable=False),
    Column("chat_url", String(500), nullable=True),
    Column("leader_name", String(100), nullable=False),
    Column("leader_phone", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # GeoJSON Polygon replacing the radius circle when set.
    Column("area", JSON, nullable=True),
    Column("timezone", String(64), nullable=False, server_default="Asia/Shanghai"),
    # shifts.to/from_document form: weekly, one_off, exceptions.
    Column("schedule", JSON, nullable=True),
    # The state last published: effective capacity, on duty, next scheduled change.
    Column("effective_capacity", Integer, nullable=False, server_default="0"),
    Column("on_duty", Boolean, nullable=False, server_default=text("true")),
    Column("next_change_at", UtcDateTime(), nullable=True, index=True),
)

members = Table(
    "members",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("team_id", String(36), ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(20), nullable=False, unique=True),
    Column("skills", JSON, nullable=False),
    Column("duty", String(40), nullable=True),
    Column("shift_group", String(20), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("locale", String(5), nullable=False, server_default="zh-CN"),
    # Secret in the member's own check-in link (the public form).
    Column("checkin_key", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

member_moves = Table(
    "member_moves",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("member_id", String(36), ForeignKey("members.id"), nullable=False, index=True),
    Column("from_team_id", String(36), nullable=True),
    Column("to_team_id", String(36), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("moved_by", String(100), nullable=False),
    Column("moved_at", UtcDateTime(), nullable=False),
)

checkins = Table(
    "checkins",
    metadata,
    Column("member_id", String(36), ForeignKey("members.id"), nullable=False),
    Column("day", Date, nullable=False),  # the community's local day
    Column("status", String(12), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("checked_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("member_id", "day"),
)

checkin_reminders = Table(
    "checkin_reminders",
    metadata,
    Column("member_id", String(36), nullable=False),
    Column("day", Date, nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("member_id", "day"),
)

coordinators = Table(
    "coordinators",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(20), nullable=True),
    Column("role", String(12), nullable=False),
    Column("communities", JSON, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

registrations = Table(
    "registrations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("skills", JSON, nullable=False),
    Column("community", String(64), nullable=False, index=True),
    Column("availability", String(500), nullable=True),
    Column("status", String(10), nullable=False),  # pending | approved | rejected
    Column("reason", String(500), nullable=True),
    Column("member_id", String(36), nullable=True),
    Column("team_id", String(36), nullable=True),
    Column("decided_by", String(100), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # One open (pending or approved) registration per phone.
    Index(
        "uq_registrations_open_phone",
        "phone",
        unique=True,
        postgresql_where=text("status <> 'rejected'"),
        sqlite_where=text("status <> 'rejected'"),
    ),
)

# What volunteers learns of a request from intake, to score its completion.
request_facts = Table(
    "request_facts",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("category", String(40), nullable=False),
    Column("urgency", String(10), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("member_id", String(36), ForeignKey("members.id"), nullable=False, index=True),
    Column("team_id", String(36), nullable=True),
    Column("community", String(64), nullable=False, index=True),
    Column("points", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    # assignment:<assignment_id>:<member_id> or adjustment:<uuid>: a repeat cannot count twice.
    Column("source_key", String(120), nullable=False, unique=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Communities, districts and cities: volunteers owns them and publishes each change.
communities = Table(
    "communities",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("level", String(10), nullable=False),  # city | district | community
    Column("parent", String(64), nullable=True, index=True),
    Column("name_zh", String(100), nullable=False),
    Column("name_en", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("boundary", JSON, nullable=True),  # GeoJSON Polygon or MultiPolygon
    Column("hotline", String(20), nullable=True),
    Column("status", String(10), nullable=False),  # active | retired
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Every coordinator token issued, so that one (or all of a coordinator's) can be revoked.
coordinator_tokens = Table(
    "coordinator_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("coordinator_id", String(36), nullable=False, index=True),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Nonces of public-form tokens already spent (kept until the token would expire).
used_form_tokens = Table(
    "used_form_tokens",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

# The `source` of every event volunteers records in its outbox.
SOURCE = "heartline/volunteers"
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
