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
    path("dats/<int:dat_id>/access", views.dat_access_page, name="dat_access"),
    path("dats/<int:dat_id>/parents", views.dat_parents_page, name="dat_parents"),
    path("dats/picker", views.dat_picker, name="dat_picker"),
    path("contributions/<str:public_id>/parents", views.contribution_parents_page, name="contribution_parents"),
    path("dats/models/<int:model_id>/", views.model_manifest, name="model_manifest"),
]
