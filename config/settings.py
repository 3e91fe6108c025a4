"""Settings from the environment (12-factor). Defaults are a safe local development setup on SQLite."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ACTION_REGISTRY_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# ACTION_REGISTRY_ENV=production makes every secret explicit and turns DEBUG off.
PRODUCTION = os.environ.get("ACTION_REGISTRY_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", not PRODUCTION)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when ACTION_REGISTRY_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-change-me-" + "x" * 20  # noqa: S105 (local development only)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_celery_beat",
    "core",
    "governance",
    "registry",
    "analytics",
    "federation",
]

# The Browser* classes are Django's (and whitenoise's) own, skipped for the Bearer-token JSON API under /v1/ and
# the /health/ probes (core/browser_middleware.py); the admin, the pages and /v1/docs get the whole stack.
MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.observability.RequestObservabilityMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.browser_middleware.BrowserWhiteNoiseMiddleware",
    "core.browser_middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.browser_middleware.BrowserCsrfViewMiddleware",
    "core.browser_middleware.BrowserAuthenticationMiddleware",
    "core.browser_middleware.BrowserMessageMiddleware",
    "core.browser_middleware.BrowserXFrameOptionsMiddleware",
    "analytics.middleware.UsageMiddleware",
    # Innermost: a kept answer the change counter confirms is served here, before routing and the ninja operation.
    "registry.middleware.ConfirmedAnswerMiddleware",
]
# `check --deploy` looks for the CSRF and frame-options middleware by dotted path; subclasses of both are above.
SILENCED_SYSTEM_CHECKS = ["security.W003", "security.W002"]
# Fetch, by-hash and verify answers kept per process (registry/response_cache.py), at most this many body
# bytes; reused only while everything they show is unchanged. 0 turns it off.
ACTION_REGISTRY_RESPONSE_CACHE_BYTES = int(os.environ.get("ACTION_REGISTRY_RESPONSE_CACHE_BYTES",
                                                          str(64 * 1024 * 1024)))
# Opt-in, with REDIS_URL: rendered answers are also shared between processes, for at most the TTL
# (registry/response_cache.py says when that pays).
ACTION_REGISTRY_SHARED_ANSWERS = env_bool("ACTION_REGISTRY_SHARED_ANSWERS", False)
ACTION_REGISTRY_SHARED_ANSWER_TTL = int(os.environ.get("ACTION_REGISTRY_SHARED_ANSWER_TTL", "3600"))
# With REDIS_URL, "unchanged" is read from a change counter every change moves after commit (one Redis GET per
# request instead of a PostgreSQL probe; core/answer_generation.py); an answer is still probed against the
# database at least this often, which bounds the staleness a lost counter update could cause. 0: always probe.
ACTION_REGISTRY_ANSWER_RECHECK_SECONDS = float(os.environ.get("ACTION_REGISTRY_ANSWER_RECHECK_SECONDS", "10"))

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------------
# DATABASE_URL: postgresql://... in production and tests; sqlite:///PATH also accepted. Without it the
# registry runs on an embedded SQLite file so `run` needs no service.
# The test suite runs on PostgreSQL: under pytest the default is the local server, not SQLite.
TESTING = bool(os.environ.get("PYTEST_VERSION"))
DATABASE_URL = os.environ.get("DATABASE_URL") or (
    "postgresql://postgres@127.0.0.1:5432/postgres" if TESTING else f"sqlite:///{VAR_DIR / 'registry.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
                            conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.postgresql":
    if env_bool("DB_POOL", False):
        # psycopg 3 pool inside each process; incompatible with persistent connections.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
            "max_size": int(os.environ.get("DB_POOL_MAX", "10")),
            "timeout": 10,
        }
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Django's backend, with a health check that polls the idle socket instead of a SELECT 1 per request.
    _db["ENGINE"] = "core.postgresql"
    if os.environ.get("TEST_DATABASE_NAME"):
        _db["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DATABASES = {"default": _db}
# A streaming replica of the same database: reads go there unless the request wrote (config/db_router.py).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=_db["CONN_MAX_AGE"], conn_health_checks=True)
    _replica["OPTIONS"] = {**_db.get("OPTIONS", {}), **_replica.get("OPTIONS", {})}
    _replica["TEST"] = {"MIRROR": "default"}
    if _replica["ENGINE"] == "django.db.backends.postgresql":
        _replica["ENGINE"] = "core.postgresql"
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["config.db_router.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(2, "config.db_router.ReplicaPinMiddleware")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Hot read queries are prepared once per connection (core/prepared.py); off behind PgBouncer < 1.21.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)

# --- cache, channels, celery ----------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# No channel layer: the one WebSocket consumer (the event stream) hears events on core.event_bus, a Redis
# pub/sub channel of REDIS_URL that each daphne process subscribes to once (in-process without REDIS_URL).
# A layer gave every consumer its own queue, so one event cost one Redis round trip per subscriber.
CHANNEL_LAYERS: dict = {}
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker (the embedded `run` default) tasks execute in-process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {}
# The event stream (docs/agents.md): the outbox drain re-sends events the after-commit fan-out could not
# (Redis down); capability declarations past their TTL are closed and announced.
ACTION_REGISTRY_EVENTS = {
    "DRAIN_SECONDS": float(os.environ.get("ACTION_REGISTRY_EVENTS_DRAIN_SECONDS", "5")),
    # Each WebSocket subscriber also re-reads the outbox this often (0 = never): a backstop for messages
    # the channel layer dropped. The drain and the live fan-out are the usual paths.
    "POLL_SECONDS": float(os.environ.get("ACTION_REGISTRY_EVENTS_POLL_SECONDS", "15")),
}
CELERY_BEAT_SCHEDULE["events-outbox-drain"] = {"task": "registry.events_drain_task",
                                               "schedule": ACTION_REGISTRY_EVENTS["DRAIN_SECONDS"]}
CELERY_BEAT_SCHEDULE["capabilities-expire"] = {"task": "registry.capabilities_expire_task", "schedule": 10.0}
# Analytics (docs/analytics.md): usage counts leave each process in batches; scores, anomaly detection and the
# intake of other apps' anomaly.* events run periodically. Report schedules are rows edited in the admin.
# Under pytest the in-process test client never flushes mid-request (query-count tests stay exact); the
# tests that check flushing run real servers, which do not inherit PYTEST_VERSION.
ANALYTICS = {
    "USAGE_FLUSH_SECONDS": float(os.environ.get("ANALYTICS_USAGE_FLUSH_SECONDS", "86400" if TESTING else "5")),
    "USAGE_FLUSH_EVENTS": int(os.environ.get("ANALYTICS_USAGE_FLUSH_EVENTS", "10000000" if TESTING else "1000")),
}
CELERY_BEAT_SCHEDULE["analytics-reputation"] = {"task": "analytics.reputation_compute_task", "schedule": 900.0}
CELERY_BEAT_SCHEDULE["analytics-anomalies"] = {"task": "analytics.anomaly_detect_task", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["analytics-anomaly-events"] = {"task": "analytics.anomaly_events_consume_task",
                                                    "schedule": 30.0}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- auth, i18n, static ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the web pages' CSS and progressive-enhancement JS
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns (an error under the tests) when missing
LOGIN_URL = "/admin/login/"

# --- security (production) ------------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- the registry's own limits --------------------------------------------------------------------
ACTION_REGISTRY = {
    "MAX_BODY_BYTES": int(os.environ.get("ACTION_REGISTRY_MAX_BODY_BYTES", str(256 * 1024))),
    "MAX_JSON_DEPTH": int(os.environ.get("ACTION_REGISTRY_MAX_JSON_DEPTH", "64")),
    "SEARCH_MAX_LIMIT": 200,
    # Failed API-key authentications allowed per client address per minute before 429.
    "AUTH_FAILURES_PER_MINUTE": int(os.environ.get("ACTION_REGISTRY_AUTH_FAILURES_PER_MINUTE", "20")),
    # A rotated key may still sign for this long after its rotation.
    "ROTATION_GRACE": timedelta(days=float(os.environ.get("ACTION_REGISTRY_ROTATION_GRACE_DAYS", "7"))),
    # Whether a key may certify its own replacement (otherwise only its parent may rotate it).
    "ROTATION_SELF_SIGNED": env_bool("ACTION_REGISTRY_ROTATION_SELF_SIGNED", True),
    "PUBLIC_URL": os.environ.get("ACTION_REGISTRY_PUBLIC_URL", "http://127.0.0.1:8000"),
    # Real third-party tool schemas used to seed the demo, and by tests and benchmarks.
    "TESTDATA_DIR": os.environ.get("ACTION_REGISTRY_TESTDATA", str(BASE_DIR.parent / "shared" / "testdata")),
}
DATA_UPLOAD_MAX_MEMORY_SIZE = ACTION_REGISTRY["MAX_BODY_BYTES"] + 1024

# --- transparency log -----------------------------------------------------------------------------
# The registry's own online Ed25519 key that signs log checkpoints (generated, 0600, on first use).
ACTION_REGISTRY_LOG_KEY_FILE = Path(os.environ.get("ACTION_REGISTRY_LOG_KEY_FILE", VAR_DIR / "log-key.pem"))
# The checkpoint origin line and note key name; empty means "<host of PUBLIC_URL>/log".
ACTION_REGISTRY_LOG_ORIGIN = os.environ.get("ACTION_REGISTRY_LOG_ORIGIN", "")

# --- federation: signed snapshots (TUF) -----------------------------------------------------------
# The online Ed25519 key that signs snapshot targets/snapshot/timestamp metadata (generated, 0600, on first
# use), and the root metadata an operator signs offline with `manage.py snapshot root --root-key FILE`.
ACTION_REGISTRY_SNAPSHOT_KEY_FILE = Path(os.environ.get("ACTION_REGISTRY_SNAPSHOT_KEY_FILE",
                                                        VAR_DIR / "snapshot" / "online-key.pem"))
ACTION_REGISTRY_SNAPSHOT_ROOT_FILE = Path(os.environ.get("ACTION_REGISTRY_SNAPSHOT_ROOT_FILE",
                                                         VAR_DIR / "snapshot" / "root.json"))
ACTION_REGISTRY_SNAPSHOT_EXPIRY_HOURS = {
    "timestamp": int(os.environ.get("ACTION_REGISTRY_SNAPSHOT_TIMESTAMP_HOURS", "24")),
    "snapshot": int(os.environ.get("ACTION_REGISTRY_SNAPSHOT_SNAPSHOT_HOURS", str(24 * 7))),
    "targets": int(os.environ.get("ACTION_REGISTRY_SNAPSHOT_TARGETS_HOURS", str(24 * 7))),
}

# One JSON object per line (LOG_FORMAT=console for a terminal); see config/logging.py.
LOGGING = logging_config(level=os.environ.get("LOG_LEVEL", "INFO"), fmt=os.environ.get("LOG_FORMAT", "json"))

# --- metrics --------------------------------------------------------------------------------------
# /metrics (Prometheus). METRICS_PORT: answer only on that port (gunicorn also binds it: keep it internal);
# METRICS_TOKEN: require `Authorization: Bearer <token>`. Several processes: set PROMETHEUS_MULTIPROC_DIR
# (config/gunicorn.conf.py does).
ACTION_REGISTRY_METRICS = {
    "ENABLED": env_bool("METRICS_ENABLED", True),
    "PORT": os.environ.get("METRICS_PORT", ""),
    "TOKEN": os.environ.get("METRICS_TOKEN", ""),
}
