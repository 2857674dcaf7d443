from django.urls import path

from . import views

app_name = "quorums"
urlpatterns = [
    path("quorums/", views.quorum_directory, name="quorum_list"),
    path("quorums/eip712.json", views.eip712_json, name="eip712"),
    path("quorums/moderation/", views.moderation, name="moderation"),
    path("quorums/moderation/act", views.moderation_action, name="moderation_action"),
    path("quorums/<int:quorum_id>/", views.quorum_detail, name="quorum_detail"),
    path("quorums/<int:quorum_id>/bond", views.quorum_bond, name="quorum_bond"),
    path("rounds/<int:round_id>/", views.round_detail, name="round_detail"),
    path("rounds/<int:round_id>/appeal", views.round_appeal, name="round_appeal"),
    path("rounds/<int:round_id>/bundle.json", views.round_bundle, name="round_bundle"),
    path("validator/inbox", views.validator_inbox, name="inbox"),
]
