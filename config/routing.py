"""WebSocket routes (Channels consumers)."""

from django.urls import path

from registry.consumers import EventStreamConsumer

websocket_urlpatterns: list = [
    path("v1/events", EventStreamConsumer.as_asgi()),
]
