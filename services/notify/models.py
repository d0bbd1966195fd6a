"""Notify's own tables: the contacts it needs (copied from events), the
offers it may hear replies about, people's consent, replies received, and the
delivery log.  No other service reads them."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
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

requesters = Table(
    "requesters",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("reference", String(16), nullable=False),
    Column("phone", String(20), nullable=False, index=True),
    Column("locale", String(8), nullable=False),
    Column("name", String(100), nullable=True),
    Column("preferred_channel", String(12), nullable=True),  # sms | phone_call
    Column("community", String(100), nullable=True),
    Column("category", String(40), nullable=True),
    Column("urgency", String(10), nullable=True),
    # Dispatch's status of the request, as far as notify heard (by sequence).
    Column("status", String(12), nullable=True),
    Column("sequence", Integer, nullable=True),
    # When dispatch promised the requester a team by (its SLA), from the status changes.
    Column("expected_by", UtcDateTime(), nullable=True),
    Column("rated_at", UtcDateTime(), nullable=True),
    # When the request was closed or cancelled: personal data goes some days after.
    Column("closed_at", UtcDateTime(), nullable=True, index=True),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("chat_url", String(500), nullable=True),
    Column("leader_phone", String(20), nullable=False, index=True),
    Column("locale", String(8), nullable=False, default="zh-CN"),
    Column("community", String(100), nullable=True),
)

# Offers made to teams, so a leader's "1" can be matched to its assignment.
offers = Table(
    "offers",
    metadata,
    Column("assignment_id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),
    Column("team_id", String(36), nullable=False, index=True),
    Column("state", String(12), nullable=False),  # offered | accepted | in_progress | done | closed | ended
    Column("sequence", Integer, nullable=False, default=0),
    Column("category", String(40), nullable=True),
    Column("urgency", String(10), nullable=True),
    Column("summary", Text, nullable=True),
    Column("offer_expires_at", UtcDateTime(), nullable=True),
    Column("offered_at", UtcDateTime(), nullable=True),
)

# Consent per phone number: opt-out (STOP or API) and a preferred channel.
consents = Table(
    "consents",
    metadata,
    Column("phone", String(20), primary_key=True),
    Column("opted_out", Boolean, nullable=False),
    Column("preferred_channel", String(12), nullable=True),  # sms | phone_call
    Column("changed_via", String(10), nullable=False),  # sms | chat | api
    Column("changed_at", UtcDateTime(), nullable=False),
)

# Every change of a consent, by whom and why (an SMS STOP is its own number's).
consent_changes = Table(
    "consent_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("phone", String(20), nullable=False, index=True),
    Column("opted_out", Boolean, nullable=False),
    Column("preferred_channel", String(12), nullable=True),
    Column("changed_via", String(10), nullable=False),  # sms | api
    Column("changed_by", String(200), nullable=False),  # a principal's subject, or "sender"
    Column("role", String(20), nullable=False),  # admin | coordinator | sender
    Column("reason", Text, nullable=True),
    Column("changed_at", UtcDateTime(), nullable=False),
)

# Communities, districts and cities, as volunteers publishes them: who covers what.
communities = Table(
    "communities",
    metadata,
    Column("code", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("level", String(12), nullable=False),  # city | district | community
    Column("parent", String(100), nullable=True),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("boundary", JSON, nullable=True),
    Column("hotline", String(20), nullable=True),
    Column("status", String(10), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(10), nullable=False),
    Column("sender", String(40), nullable=False),  # a phone (sms), or the team id (chat)
    Column("provider_message_id", String(100), nullable=True),
    Column("text", Text, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    # A provider that retries its webhook sends the same message id again.
    UniqueConstraint("channel", "provider_message_id", name="uq_inbound_provider_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("cause_event_id", String(36), nullable=False),
    Column("cause_type", String(200), nullable=False),
    Column("request_id", String(36), nullable=True, index=True),
    Column("recipient", String(20), nullable=False),  # requester | team | coordinator | member
    Column("channel", String(10), nullable=False),  # sms | chat
    Column("address", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False),  # pending | sent | failed | suppressed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("locale", String(8), nullable=True),
    Column("template", String(40), nullable=True),
    Column("community", String(100), nullable=True),
    Column("urgent", Boolean, nullable=True),
    # One message per event, recipient and channel, however often the event comes.
    UniqueConstraint("cause_event_id", "recipient", "channel", name="uq_deliveries_once"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_created", "created_at"),
)

outbox = outbox_table(metadata)
SOURCE = "heartline/notify"  # the `source` of every event notify puts in its outbox
processed_events = processed_events_table(metadata)
