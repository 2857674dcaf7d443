from django.urls import path

from . import views

app_name = "rewards"
urlpatterns = [
    path("earnings/", views.my_earnings, name="mine"),
    path("earnings/earnings.csv", views.my_earnings_csv, name="mine_csv"),
    path("earnings/epochs/", views.epoch_list, name="epochs"),
    path("earnings/epochs/<int:number>/", views.epoch_page, name="epoch"),
    path("earnings/epochs/<int:number>/payouts/<int:payout_id>/proof.json", views.payout_proof, name="payout_proof"),
    path("earnings/idaos/<slug:slug>/", views.idao_earnings, name="idao"),
    path("earnings/idaos/<slug:slug>/credits", views.idao_credit_grant, name="idao_credit_grant"),
    path("earnings/dats/<int:dat_id>/", views.dat_earnings, name="dat"),
]
