from django.urls import path

from . import views

app_name = "ledger"
urlpatterns = [
    path("", views.index, name="index"),
    path("faucet", views.faucet_page, name="faucet"),
    path("headers.json", views.headers_json, name="headers_json"),
    path("blocks/<int:height>", views.block_page, name="block"),
    path("blocks/<int:height>.json", views.block_json, name="block_json"),
    path("tx/<int:tx_id>", views.transaction_page, name="transaction"),
    path("accounts/<str:owner>", views.account_page, name="account"),
    path("accounts/<str:owner>/statement.csv", views.account_statement, name="statement"),
    path("proofs/<int:leaf_id>", views.proof_page, name="proof"),
    path("proofs/<int:leaf_id>.json", views.proof_json, name="proof_json"),
]
