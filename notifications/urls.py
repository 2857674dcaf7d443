from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/badge", views.badge, name="badge"),
    path("notifications/read-all", views.mark_all_read, name="read_all"),
    path("notifications/<int:notification_id>/open", views.open_notification, name="open"),
    path("notifications/settings", views.settings_page, name="settings"),
    path("notifications/email/verify/<str:token>", views.email_verify, name="email_verify"),
    path("notifications/unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("feeds/idaos/<slug:slug>.atom", views.idao_feed, name="idao_feed"),
    path("feeds/dats/<int:dat_id>.atom", views.dat_feed, name="dat_feed"),
]
