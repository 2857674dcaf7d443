"""One settings module for every environment: values come from the environment, and each has
an embedded default (SQLite in WAL mode, a filesystem Celery broker, a generated dev secret under
var/) so the portal runs on a fresh machine with no services at all."""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# siwe's ABNF grammar (which we do not use: we parse with abnf=False) warns on import.
warnings.filterwarnings("ignore", message=r"rule '.*' redefines", category=UserWarning)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _dev_secret() -> str:
    # Generated once per checkout and kept out of the repository (var/ is ignored).
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    "portal",
    "ledger",
    "idaos",
    "quorums",
    "contributions",
    "dats",
    "rewards",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.JsonErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.sessions.PortalAuthenticationMiddleware",
    "portal.signatures.session.ContractWalletSessionMiddleware",
    "portal.middleware.PageMessageMiddleware",  # django.contrib.messages, not set up for /api/ and /auth/
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.PortalCSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.people.PeopleNamesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = ["portal.auth.AddressBackend"]
LOGIN_URL = "login"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a Celery worker writes; IMMEDIATE takes the write
    # lock at BEGIN so two writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
# Hot statements (the vote's idaos_cast_ballot call) as named prepared statements, planned once per
# connection (portal.prepared). Off by default behind PgBouncer in transaction mode, which the
# setting above marks: a prepared statement lives in one server session.
PORTAL_PREPARED_STATEMENTS = env.bool(
    "PORTAL_PREPARED_STATEMENTS", default=not DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False)
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A deployment (DEBUG off, a real database) must bring its own secret: the generated one under
# var/ is for the embedded default on one machine, and a shared fallback would sign every
# deployment's sessions with the same key.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off and a database other than SQLite the portal refuses to start "
            "without one: set SECRET_KEY to a long random string (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`) in the environment or in .env."
        )
    SECRET_KEY = _dev_secret()

# --- Cache (rate limits, nonces' throttling) ----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "portal.cache.PortalRedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by the web and worker processes of the embedded default, unlike LocMemCache.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

# Sessions stay in the database (logout deletes them server-side); with Redis, reads come from
# the cache, which saves a query on every authenticated request; portal.sessions (cached_db) also
# fetches the signed-in user's cached row in the same Redis round trip.
SESSION_ENGINE = "portal.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
    # kombu's filesystem transport with atomic writes and claims (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:AtomicFilesystemTransport"
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ: "quorum" declares the queues as replicated quorum queues (README, Deployment).
    CELERY_TASK_DEFAULT_QUEUE_TYPE = env.str("CELERY_QUEUE_TYPE", default="classic")
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
        # How often unacknowledged deliveries of dead workers are looked at for restoring.
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    }
# Celery closes the database connection after every task unless told to reuse it; reconnecting
# was the largest cost of a short task. Health checks still retire broken connections
# (portal.celery runs close_old_connections before each task).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Sign-In with Ethereum ---------------------------------------------------------------
SIWE_DOMAIN = env.str("SIWE_DOMAIN", default="")  # empty: the request's own host
SIWE_CHAIN_IDS = env.list("SIWE_CHAIN_IDS", cast=int, default=[1, 11155111, 31337])
SIWE_NONCE_TTL_SECONDS = env.int("SIWE_NONCE_TTL_SECONDS", default=600)
SIWE_NONCE_RATE = env.str("SIWE_NONCE_RATE", default="60/m")
SIWE_CLOCK_SKEW_SECONDS = env.int("SIWE_CLOCK_SKEW_SECONDS", default=60)
PORTAL_ADMINS = [a.lower() for a in env.list("PORTAL_ADMINS", default=[])]
# The EIP-712 chain id that signed ballots and verdicts are bound to.
PORTAL_CHAIN_ID = env.int("PORTAL_CHAIN_ID", default=1)
# Chain id -> JSON-RPC URL ("1=https://...,31337=http://127.0.0.1:8545"): where contract-wallet
# signatures (ERC-1271, ERC-6492) are checked. A chain without an entry cannot verify them.
PORTAL_CHAIN_RPC: dict[int, str] = {}
for _item in env.list("PORTAL_CHAIN_RPC", default=[]):
    _chain, _sep, _url = _item.strip().partition("=")
    if not (_sep and _chain.strip().isdigit() and _url.strip()):
        raise ImproperlyConfigured(f"PORTAL_CHAIN_RPC entry {_item!r} is not CHAIN_ID=URL")
    PORTAL_CHAIN_RPC[int(_chain)] = _url.strip()
PORTAL_CHAIN_RPC_TIMEOUT = env.float("PORTAL_CHAIN_RPC_TIMEOUT", default=5.0)  # seconds per JSON-RPC request
PORTAL_SIGNATURE_CACHE_SECONDS = env.int("PORTAL_SIGNATURE_CACHE_SECONDS", default=60)  # contract-check answers
# A session signed by a contract wallet is re-verified against the wallet's live code this often.
PORTAL_CONTRACT_SESSION_RECHECK_SECONDS = env.int("PORTAL_CONTRACT_SESSION_RECHECK_SECONDS", default=300)

# --- Governance limits -----------------------------------------------------------------------
IDAOS_MAX_ACTIVE_PROPOSALS_PER_AUTHOR = env.int("IDAOS_MAX_ACTIVE_PROPOSALS_PER_AUTHOR", default=5)
IDAOS_MAX_DAILY_PROPOSALS_PER_IDAO = env.int("IDAOS_MAX_DAILY_PROPOSALS_PER_IDAO", default=20)
# Delegations (docs/governance.md "Delegation"): the expiry a client proposes, and the longest allowed.
IDAOS_DELEGATION_DEFAULT_DAYS = env.int("IDAOS_DELEGATION_DEFAULT_DAYS", default=180)
IDAOS_DELEGATION_MAX_DAYS = env.int("IDAOS_DELEGATION_MAX_DAYS", default=180)

# --- Validation tasks ---------------------------------------------------------------------------
PORTAL_TASK_MAX_RETRIES = env.int("PORTAL_TASK_MAX_RETRIES", default=3)
PORTAL_TASK_RETRY_DELAY = env.float("PORTAL_TASK_RETRY_DELAY", default=5.0)
PORTAL_SWEEP_SECONDS = env.float("PORTAL_SWEEP_SECONDS", default=30.0)
# The committee seed's public-chain block (docs/validation.md "Committee seed"): with a chain id that
# has a PORTAL_CHAIN_RPC entry, each round's committee is drawn only once the first block of that
# chain after the round opened exists (with this many blocks on top), and its hash goes into the seed.
QUORUM_SEED_CHAIN_ID = env.int("QUORUM_SEED_CHAIN_ID", default=0)
QUORUM_SEED_CONFIRMATIONS = env.int("QUORUM_SEED_CONFIRMATIONS", default=2)
QUORUM_DRAW_RETRY_SECONDS = env.float("QUORUM_DRAW_RETRY_SECONDS", default=4.0)
if QUORUM_SEED_CHAIN_ID and QUORUM_SEED_CHAIN_ID not in PORTAL_CHAIN_RPC:
    raise ImproperlyConfigured(f"QUORUM_SEED_CHAIN_ID={QUORUM_SEED_CHAIN_ID} has no PORTAL_CHAIN_RPC entry")
# Demo: bin/run and compose start HTTP-only validator nodes with the deterministic demo keys.
PORTAL_DEMO_VALIDATORS = env.bool("PORTAL_DEMO_VALIDATORS", default=False)
# The demo keeps one proposal open in its iDAO (a beat task renews it); on with the demo validators.
PORTAL_DEMO_PROPOSALS = env.bool("PORTAL_DEMO_PROPOSALS", default=PORTAL_DEMO_VALIDATORS)

# Demo/test deployments (PORTAL_DEMO=true, as bin/run and compose's demo set it): a LAZ faucet
# lets a new user try bonding and paid access. Off in production; the amount is per user per day.
PORTAL_DEMO = env.bool("PORTAL_DEMO", default=False)
PORTAL_FAUCET_LAZ = env.int("PORTAL_FAUCET_LAZ", default=1_000)

# --- Rewards ----------------------------------------------------------------------------------
# The demo pipeline reports simulated usage every few seconds (bin/run turns it on).
REWARDS_DEMO_PIPELINE = env.bool("REWARDS_DEMO_PIPELINE", default=False)
REWARDS_EPOCH_SECONDS = env.int("REWARDS_EPOCH_SECONDS", default=60 if REWARDS_DEMO_PIPELINE else 3600)

# --- Optional public anchoring of block roots to an EVM chain ------------------------------
# Group commit: concurrent single transfers outside a transaction share one (ledger/combine.py).
# Needs Redis (REDIS_URL) and PostgreSQL; a waiter posts its own transfer after this many seconds.
# "auto" (the default): a process combines only while the transaction ids its own transfers get
# show other writers posting at the same time, so a lone writer never pays the Redis round trip;
# "true": always; "false": never.
_combine = env.str("LEDGER_COMBINE", default="auto").strip().lower()
LEDGER_COMBINE: bool | str = "auto" if _combine == "auto" else _combine in ("1", "true", "yes", "on")
LEDGER_COMBINE_WAIT_SECONDS = env.float("LEDGER_COMBINE_WAIT_SECONDS", default=30.0)
LEDGER_COMBINE_LEADERS = env.int("LEDGER_COMBINE_LEADERS", default=1)  # writers posting at once
LEDGER_EVM_RPC_URL = env.str("LEDGER_EVM_RPC_URL", default="")
LEDGER_EVM_PRIVATE_KEY = env.str("LEDGER_EVM_PRIVATE_KEY", default="")

# --- On-chain publication (off unless LEDGER_ANCHOR_CHAIN_ID names a chain in PORTAL_CHAIN_RPC) ----
# Sealed blocks are anchored to the LedgerAnchor contract, and DATs mirrored to the ERC-8028
# contract, through the chain outbox (docs/ledger.md "On-chain anchoring"). 0: off.
LEDGER_ANCHOR_CHAIN_ID = env.int("LEDGER_ANCHOR_CHAIN_ID", default=0)
LEDGER_ANCHOR_CONTRACT = env.str("LEDGER_ANCHOR_CONTRACT", default="")
LEDGER_ANCHOR_PRIVATE_KEY = env.str("LEDGER_ANCHOR_PRIVATE_KEY", default="")  # the publisher's key
LEDGER_ANCHOR_EVERY_BLOCKS = env.int("LEDGER_ANCHOR_EVERY_BLOCKS", default=50)  # publish after N blocks…
LEDGER_ANCHOR_EVERY_SECONDS = env.float("LEDGER_ANCHOR_EVERY_SECONDS", default=300.0)  # …or T seconds
LEDGER_ANCHOR_MAX_BLOCKS = env.int("LEDGER_ANCHOR_MAX_BLOCKS", default=2000)  # blocks per transaction at most
LEDGER_ANCHOR_CONFIRMATIONS = env.int("LEDGER_ANCHOR_CONFIRMATIONS", default=3)  # depth for "confirmed"
LEDGER_ANCHOR_REPLACE_AFTER_SECONDS = env.float("LEDGER_ANCHOR_REPLACE_AFTER_SECONDS", default=120.0)
LEDGER_ANCHOR_REORG_WINDOW = env.int("LEDGER_ANCHOR_REORG_WINDOW", default=64)  # chain blocks re-checked
LEDGER_ANCHOR_POLL_SECONDS = env.float("LEDGER_ANCHOR_POLL_SECONDS", default=5.0)
# A public RPC URL the browser's Verify button may query (empty: the page says "not checked").
LEDGER_ANCHOR_PUBLIC_RPC = env.str("LEDGER_ANCHOR_PUBLIC_RPC", default="")
# The ERC-8028 mirror of DATs (same chain and publisher); empty: DATs stay off-chain.
DATS_ERC8028_CONTRACT = env.str("DATS_ERC8028_CONTRACT", default="")
DATS_ERC8028_BASE_URL = env.str("DATS_ERC8028_BASE_URL", default="")  # prefix of metadataURI/policyURI
CELERY_IMPORTS = ["ledger.onchain_tasks"]

# --- Uploads and request size --------------------------------------------------------------
PORTAL_MAX_UPLOAD_BYTES = env.int("PORTAL_MAX_UPLOAD_BYTES", default=2 * 1024**3)
PORTAL_ARCHIVE_MAX_ENTRIES = env.int("PORTAL_ARCHIVE_MAX_ENTRIES", default=10_000)
PORTAL_ARCHIVE_MAX_UNCOMPRESSED = env.int("PORTAL_ARCHIVE_MAX_UNCOMPRESSED", default=8 * 1024**3)
# Inspecting a compressed tar stops past this ratio of inflated to compressed bytes or these seconds.
PORTAL_ARCHIVE_MAX_RATIO = env.int("PORTAL_ARCHIVE_MAX_RATIO", default=100)
PORTAL_ARCHIVE_MAX_SECONDS = env.float("PORTAL_ARCHIVE_MAX_SECONDS", default=5.0)
# Staged upload files not written for this long are left by a dead process; beat sweeps them.
PORTAL_STAGING_MAX_AGE = env.int("PORTAL_STAGING_MAX_AGE", default=3600)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=100 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 20
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# No URL pattern serves MEDIA_ROOT: uploads are streamed by views that check access. (A value is
# still needed: Django's live test server wraps it.)
MEDIA_URL = "/_media_is_never_served/"

# --- Static files ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security ----------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Served over HTTPS: on by default once a real database is configured (production-like), off
# for the embedded default on http://127.0.0.1. PORTAL_HTTPS overrides either way.
PORTAL_HTTPS = env.bool("PORTAL_HTTPS", default=not DEBUG and "DATABASE_URL" in env)
if PORTAL_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Notification fan-out and delivery run on their own queue, so they never delay core work (and
# workers must consume it: `celery worker -Q celery,notifications`, as bin/run and compose do).
CELERY_TASK_ROUTES = {"notifications.tasks.*": {"queue": "notifications"}}
# Notifications (docs/notifications.md): email through Django's backend, SMTP from the environment.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="iDAO Portal <notifications@localhost>")
# Absolute links in emails and feeds (verification, unsubscribe); empty: http://localhost:8000.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://localhost:8000")
# Webhooks may target loopback/private/link-local addresses only when the operator allows it.
NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = env.bool("NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE", default=False)
NOTIFICATIONS_WEBHOOK_TIMEOUT = env.float("NOTIFICATIONS_WEBHOOK_TIMEOUT", default=5.0)
NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS = env.int("NOTIFICATIONS_WEBHOOK_MAX_ATTEMPTS", default=5)
NOTIFICATIONS_WEBHOOK_RETRY_BASE = env.float("NOTIFICATIONS_WEBHOOK_RETRY_BASE", default=10.0)
NOTIFICATIONS_WEBHOOK_DISABLE_AFTER = env.int("NOTIFICATIONS_WEBHOOK_DISABLE_AFTER", default=10)

RATELIMIT_VIEW = "portal.errors.ratelimited"
# Behind a proxy, the client address is in a header the proxy sets (e.g. HTTP_X_REAL_IP).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"] if not REDIS_URL else []

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
