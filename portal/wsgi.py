import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# Everything loaded so far (Django, the apps, the libraries) lives as long as the process: frozen,
# the garbage collector stops scanning it, so a full collection during a request costs a few
# milliseconds instead of ~100 (and, under a preloading server, forked workers keep sharing it).
gc.freeze()
