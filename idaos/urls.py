from django.urls import path, re_path

from . import views, views_treasury

app_name = "idaos"
urlpatterns = [
    path("idaos/", views.directory, name="directory"),
    path("idaos/new", views.idao_new, name="new"),
    path("idaos/<slug:slug>/", views.idao_detail, name="detail"),
    path("idaos/<slug:slug>/join", views.idao_join, name="join"),
    path("idaos/<slug:slug>/leave", views.idao_leave, name="leave"),
    path("idaos/<slug:slug>/members", views.members, name="members"),
    path("idaos/<slug:slug>/models/new", views.model_new, name="model_new"),
    path("idaos/<slug:slug>/agents/new", views.agent_new, name="agent_new"),
    path("idaos/<slug:slug>/delegates", views.idao_delegates, name="delegates"),
    path("delegates/<slug:domain>/", views.domain_delegates, name="domain_delegates"),
    path("delegations/", views.my_delegations, name="my_delegations"),
    re_path(r"^people/(?P<address>0x[0-9a-fA-F]{40})/statement$", views.statement_edit, name="statement"),
    path("idaos/<slug:slug>/agents/<int:agent_id>/", views.agent_detail, name="agent_detail"),
    path("idaos/<slug:slug>/proposals/", views.proposal_list, name="proposals"),
    path("idaos/<slug:slug>/proposals/new", views.proposal_new, name="proposal_new"),
    path("proposals/", views.proposals_all, name="proposals_all"),
    path("votes/", views.my_votes, name="my_votes"),
    path("proposals/<int:proposal_id>", views.proposal_detail, name="proposal"),
    re_path(
        r"^proposals/(?P<proposal_id>[0-9]+)/ballots\.(?P<fmt>json|csv)$", views.ballots_export, name="ballots_export"
    ),
    re_path(
        r"^proposals/(?P<proposal_id>[0-9]+)/(?P<action>submit|cancel)$", views.proposal_action, name="proposal_action"
    ),
    path("ballots/<int:ballot_id>", views.ballot_receipt, name="ballot"),
    # Treasury, timelock and discussion (idaos.views_treasury)
    path("idaos/<slug:slug>/treasury", views_treasury.treasury_page, name="treasury"),
    path("idaos/<slug:slug>/treasury/propose", views_treasury.treasury_proposal_new, name="treasury_propose"),
    path("proposals/<int:proposal_id>/veto", views_treasury.proposal_veto, name="proposal_veto"),
    path("proposals/<int:proposal_id>/comments", views_treasury.comment_new, name="comment_new"),
    path(
        "proposals/<int:proposal_id>/comments/<int:comment_id>/edit", views_treasury.comment_edit, name="comment_edit"
    ),
    path(
        "proposals/<int:proposal_id>/comments/<int:comment_id>/hide", views_treasury.comment_hide, name="comment_hide"
    ),
    path("governance/eip712.json", views.eip712_json, name="eip712"),
]
