"""Enumerations of agents and capability declarations."""

from django.db import models


class CapabilityStatus(models.TextChoices):
    LIVE = "live", "Live (until expires_at, renewed by heartbeat)"
    EXPIRED = "expired", "Expired (no heartbeat within its TTL)"
    SUPERSEDED = "superseded", "Replaced by a newer declaration of the same agent"
    WITHDRAWN = "withdrawn", "Withdrawn by the agent"


class CapabilityProtocol(models.TextChoices):
    HTTP = "http", "HTTP / REST"
    MCP = "mcp", "Model Context Protocol"
    A2A = "a2a", "Agent2Agent"
    GRPC = "grpc", "gRPC"
    WEBSOCKET = "websocket", "WebSocket"
