from django.urls import path

from . import explorer_views

# Appended to dats/urls.py (namespace "dats"), so names are dats:dat_list, dats:dat_detail, …
urlpatterns = [
    path("dats/", explorer_views.dat_list, name="dat_list"),
    path("dats/<int:dat_id>/", explorer_views.dat_detail, name="dat_detail"),
    path("dats/<int:dat_id>/bundle.json", explorer_views.dat_bundle, name="dat_bundle"),
    path("dats/<int:dat_id>/policy", explorer_views.dat_policy, name="dat_policy"),
    path("dats/<int:dat_id>/revoke", explorer_views.dat_revoke, name="dat_revoke"),
    path("dats/<int:dat_id>/transfer", explorer_views.dat_transfer, name="dat_transfer"),
    path("dats/models/<int:model_id>/", explorer_views.model_manifest, name="model_manifest"),
]
