"""ASGI entry point: daphne serves WebSockets (and HTTP, though production routes HTTP to WSGI)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402


class ApiOriginValidator(OriginValidator):
    """Browsers always send Origin, and a present one must be an allowed host (no cross-site sockets);
    agents' non-browser clients send none. The stream authenticates by API key, never by cookie, so a
    missing Origin carries no ambient credentials to abuse."""

    def valid_origin(self, parsed_origin):
        return parsed_origin is None or super().valid_origin(parsed_origin)


_allowed = list(settings.ALLOWED_HOSTS) or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": ApiOriginValidator(URLRouter(websocket_urlpatterns), _allowed),
})
