from django.contrib import admin
from django.urls import include, path, re_path
from django.urls.resolvers import RegexPattern

from . import health, views
from .api import api
from .urlindex import IndexedURLResolver

API_PREFIXES = r"^(?=api/|auth/)"

# The JSON API (django-ninja: /auth/… and /api/v1/…) is tried first, and only for paths under
# those prefixes (the zero-width lookahead consumes nothing, so its patterns see the whole path).
# Listed last, an API call was matched against the ~270 page patterns before its own (~0.1 ms of
# CPU on every API request); pages pay one failed lookahead. A path under the prefixes that no API
# operation has (the streaming upload view in contributions.urls) falls through to the patterns
# below, as before: tests/portal/test_api_contract.py checks that no API pattern shadows one.
# What re_path(API_PREFIXES, api.urls) builds, as an IndexedURLResolver: of its ~100 patterns, a
# call tries only those that can match its path (portal.urlindex).
_api_patterns, _api_app_name, _api_namespace = api.urls
urlpatterns = [
    IndexedURLResolver(
        RegexPattern(API_PREFIXES, is_endpoint=False),
        _api_patterns,
        app_name=_api_app_name,
        namespace=_api_namespace,
    ),
    path("", views.home, name="home"),
    path("login", views.login_page, name="login"),
    path("logout", views.logout_page, name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    re_path(r"^people/(?P<address>0x[0-9a-fA-F]{40})/$", views.person, name="person"),
    re_path(r"^people/(?P<address>0x[0-9a-fA-F]{40})/name$", views.display_name_edit, name="display_name"),
    path("tokens/", views.api_token_list, name="api_tokens"),
    path("tokens/<int:token_id>/revoke", views.api_token_revoke_page, name="api_token_revoke"),
    path("admin/", admin.site.urls),
    path("ledger/", include("ledger.urls")),
    path("", include("idaos.urls")),
    path("", include("quorums.urls")),
    path("", include("contributions.urls")),
    path("", include("dats.urls")),
    path("", include("rewards.urls")),
    path("", include("notifications.urls")),
]

handler400 = "portal.views.bad_request"
handler500 = "portal.views.server_error"
