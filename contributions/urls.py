from django.urls import path

from . import views

app_name = "contributions"
urlpatterns = [
    path("api/v1/contributions/upload", views.upload_api, name="upload_api"),
    path("contributions/new", views.contribution_new, name="contribution_new"),
    path("contributions/mine", views.contribution_mine, name="contribution_mine"),
    path("contributions/<str:public_id>/file", views.contribution_file, name="contribution_file"),
]
