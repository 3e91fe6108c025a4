"""Routes of the analytics pages (mounted at /analytics/; the scheduled reports live under /reports/)."""

from django.urls import path

from analytics import page_views

urlpatterns = [
    path("", page_views.overview, name="analytics"),
    path("actions/<str:name>/", page_views.action_analytics, name="action-analytics"),
]
