"""Routes of the catalog pages (beside /v1/, /admin/ and the other apps' pages)."""

from django.urls import path

from registry import views

urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("fragments/catalog-results", views.catalog_results, name="catalog-results"),
    path("actions/<str:name>/", views.action_detail, name="action"),
    path("actions/<str:name>/diff/", views.diff_view, name="action-diff"),
    path("actions/<str:name>/graph/", views.graph_view, name="action-graph"),
    path("actions/<str:name>/versions/<str:version>/", views.version_detail, name="version"),
]
