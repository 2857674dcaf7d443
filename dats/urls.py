from django.urls import path

from . import views

app_name = "dats"
urlpatterns = [
    path("dats/", views.dat_list, name="dat_list"),
    path("dats/<int:dat_id>/", views.dat_detail, name="dat_detail"),
    path("dats/<int:dat_id>/bundle.json", views.dat_bundle, name="dat_bundle"),
    path("dats/<int:dat_id>/policy", views.dat_policy, name="dat_policy"),
    path("dats/<int:dat_id>/challenge", views.dat_challenge, name="dat_challenge"),
    path("dats/<int:dat_id>/revoke", views.dat_revoke, name="dat_revoke"),
    path("dats/<int:dat_id>/transfer", views.dat_transfer, name="dat_transfer"),
    path("dats/models/<int:model_id>/", views.model_manifest, name="model_manifest"),
]
