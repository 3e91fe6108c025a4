"""URL map: the REST API under /v1/, the admin, health probes."""

from django.contrib import admin
from django.urls import include, path

from config.api import api
from config.openapi import gpt_openapi_json
from core.observability import health_live, health_ready, metrics_view

admin.site.site_header = "Action Registry governance"
admin.site.site_title = "Action Registry"

urlpatterns = [
    path("v1/openapi.gpt.json", gpt_openapi_json, name="openapi-gpt"),  # the Custom GPT action set
    path("v1/", api.urls),
    path("admin/", admin.site.urls),
    path("health/live", health_live, name="health-live"),
    path("health/ready", health_ready, name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("reports/", include("analytics.urls")),
    path("analytics/", include("analytics.page_urls")),
    # The web pages (catalog, action and version pages, trust tree): last, so they never shadow the above.
    path("", include("registry.urls")),
    path("", include("governance.urls")),
]
