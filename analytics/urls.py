"""URLs of the report pages (mounted at /reports/)."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("<int:report_id>/", views.report_detail, name="report-detail"),
    path("<int:report_id>/download", views.report_download, name="report-download"),
]
