import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
# Load the URLconf (and the API it builds) now rather than on the first request, and keep those
# long-lived objects out of the garbage collector's scans too (portal.startup): a full collection
# during a request then costs a few milliseconds instead of ~100, and under a preloading server
# forked workers keep sharing them.
get_resolver().url_patterns  # noqa: B018

from portal.startup import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
