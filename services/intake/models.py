"""Intake's own tables.  No other service reads them."""

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.clock import UtcDateTime
from shared.outbox import outbox_table, processed_events_table

metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reference", String(16), nullable=False, unique=True),
    # The partner id for a partner, otherwise the caller's subject ("admin",
    # a coordinator, "qr:<community>"): whose request it is.
    Column("submitted_by", String(100), nullable=False),
    Column("external_id", String(100), nullable=True),
    Column("category", String(40), nullable=False),
    Column("description", Text, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("address", String(300), nullable=True),
    Column("community", String(64), nullable=True, index=True),
    Column("urgency", String(10), nullable=False),
    Column("vulnerabilities", String(200), nullable=False, server_default=""),
    Column("people", Integer, nullable=False, server_default="1"),
    Column("source", String(16), nullable=False, server_default="partner"),
    Column("requester_name", String(100), nullable=False),
    Column("requester_phone", String(20), nullable=False),
    Column("requester_locale", String(8), nullable=False),
    Column("preferred_channel", String(16), nullable=False, server_default="sms"),
    Column("status", String(20), nullable=False),
    Column("dispatch_sequence", Integer, nullable=False, default=0),
    # A likely repeat of an earlier request through another channel: linked, never merged.
    Column("duplicate_of", String(36), nullable=True),
    Column("operator_id", String(64), nullable=True),
    Column("call_at", UtcDateTime(), nullable=True),
    Column("operator_notes", Text, nullable=True),
    Column("feedback_rating", Integer, nullable=True),
    Column("feedback_comment", Text, nullable=True),
    Column("feedback_channel", String(8), nullable=True),
    Column("feedback_at", UtcDateTime(), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # When dispatch promised the requester a team by (its SLA), carried on its
    # status changes; None until dispatch has said.
    Column("expected_by", UtcDateTime(), nullable=True),
    # When the retention loop removed the requester's personal data (None: not yet).
    Column("personal_data_removed_at", UtcDateTime(), nullable=True),
    UniqueConstraint("submitted_by", "external_id", name="uq_requests_external_id"),
    Index("ix_requests_duplicate_probe", "requester_phone", "category", "received_at"),
    Index("ix_requests_submitted_by_received_at", "submitted_by", "received_at"),
)

status_changes = Table(
    "status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(36), ForeignKey("requests.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("changed_at", UtcDateTime(), nullable=False),
    # Dispatch's sequence number of the change (None for intake's own, a
    # cancellation): a change that arrives late is placed, and never doubled, by it.
    Column("sequence", Integer, nullable=True),
)

partners = Table(
    "partners",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("webhook_url", String(500), nullable=True),
    Column("webhook_secret", String(100), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

partner_keys = Table(
    "partner_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=False, index=True),
    # sha256 of the key; the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# The read model of volunteers' communities (aid.community.changed.v1): the
# QR forms, where a request given without a community is placed, and scope.
communities = Table(
    "communities",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("level", String(12), nullable=False),  # city | district | community
    Column("parent", String(64), nullable=True),
    Column("name_zh", String(100), nullable=False),
    Column("name_en", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("boundary", JSON, nullable=True),  # GeoJSON Polygon or MultiPolygon (lon, lat)
    Column("hotline", String(20), nullable=True),
    Column("status", String(10), nullable=False),  # active | retired
    Column("changed_at", UtcDateTime(), nullable=False),
)

# Server-issued form tokens already spent (single use), kept until they expire.
used_form_tokens = Table(
    "used_form_tokens",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("partner_id", String(36), ForeignKey("partners.id"), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("url", String(500), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(12), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_partner", "partner_id", "created_at"),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
