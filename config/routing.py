"""WebSocket routes (Channels consumers)."""

websocket_urlpatterns: list = []
