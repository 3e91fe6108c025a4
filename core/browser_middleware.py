"""Django's browser-only middleware (sessions, CSRF, user, messages, frame options, static files), skipped on
the lean path: the Bearer-token JSON API under /v1/ and the probes (core.middleware.lean_path).

A separate module from core.middleware, which Celery imports before the app registry is ready."""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from core.middleware import lean_path


class BrowserOnlyMixin:
    """Before a middleware class: runs it as usual, except on lean paths, where the request goes straight on.

    Each class below subclasses the original, so Django's checks (the admin's) still find it. Of the hooks
    Django collects beside ``__call__`` (process_view, process_exception, process_template_response) only CSRF
    has one, and it answers None on lean paths, as if the middleware were not installed there."""

    def __call__(self, request):
        if lean_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class BrowserSessionMiddleware(BrowserOnlyMixin, SessionMiddleware):
    pass


class BrowserCsrfViewMiddleware(BrowserOnlyMixin, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if lean_path(request.path_info):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class BrowserAuthenticationMiddleware(BrowserOnlyMixin, AuthenticationMiddleware):
    pass


class BrowserMessageMiddleware(BrowserOnlyMixin, MessageMiddleware):
    pass


class BrowserXFrameOptionsMiddleware(BrowserOnlyMixin, XFrameOptionsMiddleware):
    pass


class BrowserWhiteNoiseMiddleware(BrowserOnlyMixin, WhiteNoiseMiddleware):
    pass
