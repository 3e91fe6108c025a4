"""Routes of the governance pages beside the admin."""

from django.urls import path

from governance import views

urlpatterns = [
    path("trust/", views.trust, name="trust"),
]
