"""Django project for the Action Registry server."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
