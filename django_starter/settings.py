"""Settings for Django Starter, read once from the environment (and `.env` when present).

Every variable here is also read by the start scripts, so one value drives the whole
stack. See docs/configuration.md for the table.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Development gets a throwaway key; production (DEBUG off) must be given one.
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production settings (DJANGO_DEBUG=0) refuse to start "
            "without one; generate it with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",  # ASGI runserver: `manage.py runserver` serves WebSockets too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "live_progress",
    "diagnostics",
    "django_starter",  # for its migration that schedules housekeeping
    "axes",  # failed log-ins, and who is locked out (listed in the admin)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # the Content-Security-Policy header (see Security)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "diagnostics.middleware.RedisUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a refused log-in into the lockout page
]

ROOT_URLCONF = "django_starter.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "django_starter.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "django_starter" / "templates"],
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

# ---------------------------------------------------------------------------
# Database: SQLite by default, DATABASE_URL for PostgreSQL
# ---------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite waits for a lock instead of failing ("database is locked"): readers never block
    # the writer (WAL), a write transaction takes its lock when it begins (IMMEDIATE), and a
    # busy database is waited for up to 20 s. Options in DATABASE_URL (`?timeout=5`) win.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Log in and out with Django's own views; both come back to the page.
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Password guessing is throttled by django-axes, on /accounts/login/ and the admin's log-in
# alike: after AXES_FAILURE_LIMIT wrong passwords for one account from one address, that
# account is refused from that address, right password included, until AXES_COOLOFF_MINUTES
# have passed since the last attempt. A successful log-in forgets the earlier failures.
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out account
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
# What a lockout is counted by: each entry is one counter, "+" joins parameters into one
# (AXES_LOCKOUT_PARAMETERS=ip_address,username counts each alone, and locks on either).
AXES_LOCKOUT_PARAMETERS = [
    entry.split("+") if "+" in entry else entry
    for entry in env.list("AXES_LOCKOUT_PARAMETERS", default=["username+ip_address"])
]
AXES_RESET_ON_SUCCESS = True
# The same client address as the task limits (the proxy's X-Forwarded-For when trusted).
AXES_CLIENT_IP_CALLABLE = "live_progress.web.services.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"  # answered with status 429
AXES_VERBOSE = False  # no banner line on every manage.py command

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

# ---------------------------------------------------------------------------
# Static files, served by WhiteNoise in every mode
# ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# ---------------------------------------------------------------------------
# Redis: one server for the Celery broker and results, task snapshots and Channels
# ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Short timeouts so that a Redis outage becomes a clear 503, never a hung request.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

# For consumers of your own: one PUBLISH per group message, fanned out inside each web
# process (the progress WebSockets do the same in live_progress/web/hub.py: docs/design.md).
# https://channels.readthedocs.io/en/stable/topics/channel_layers.html
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "starter:channels"},
    }
}

# ---------------------------------------------------------------------------
# Celery (CELERY_ namespace, read by django_starter/celery.py)
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Nothing lost: acknowledge after the task ran, so a killed worker's task is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
# The queue a task goes to when no route names one, and that a worker without -Q consumes
# (Celery's default, "celery"): give each deployment sharing one broker a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# A result Redis could not take (it is restarting) is retried, with backoff, for about two
# minutes instead of failing a task whose work is done.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend-always-retry
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 100
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 2000
CELERY_RESULT_BACKEND_MAX_RETRIES = env.int("CELERY_RESULT_BACKEND_MAX_RETRIES", default=120)
# Time limits: past the soft one the task gets SoftTimeLimitExceeded (it may clean up), past
# the hard one its pool process is killed. Either ends it in FAILURE, "time limit" in words.
# https://docs.celeryq.dev/en/stable/userguide/workers.html#time-limits
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
# With acks_late, an unacknowledged task returns to the queue after this many seconds
# (Celery's default is one hour). It must exceed the hard time limit, or a task still
# running would be delivered a second time and run twice at once.
# (Not named CELERY_* here: Celery would read it as one of its own settings.)
BROKER_VISIBILITY_TIMEOUT = env.int(
    "CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 60
)
# Checked here rather than in a system check: the Celery worker, whose tasks would run
# twice, never runs Django's checks, but every process reads the settings.
if CELERY_BROKER_URL.split(":")[0] in ("redis", "rediss", "sentinel", "sqs") and (
    BROKER_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT
):
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({BROKER_VISIBILITY_TIMEOUT} s) must be above "
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT} s): a task still running when the "
        "broker delivers it again would run twice. Raise CELERY_VISIBILITY_TIMEOUT, e.g. to "
        f"{CELERY_TASK_TIME_LIMIT + 60}, or lower CELERY_TASK_TIME_LIMIT."
    )
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT ({CELERY_TASK_SOFT_TIME_LIMIT} s) must be below "
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT} s), so a task can clean up first."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    # A running worker looks for tasks past their visibility timeout this often (kombu's
    # default is every 100 s); a worker that starts also looks once at once.
    "unacked_restore_interval": max(1, min(10, BROKER_VISIBILITY_TIMEOUT // 5)),
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_timeout": 30,
}
# A task whose pool process died is requeued at the head of its queue, not behind every
# task sent since (kombu's Redis transport, one method changed: see django_starter/broker.py).
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "django_starter.broker:Transport"
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_SOCKET_TIMEOUT
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_SOCKET_TIMEOUT
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # reconnect forever when Redis comes back
CELERY_WORKER_SEND_TASK_EVENTS = True  # Flower sees tasks live
CELERY_TASK_SEND_SENT_EVENT = True
# A request that queues a task while the broker is down fails within seconds (a 503), instead
# of retrying the publish for a long time.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_SOCKET_TIMEOUT
# Celery beat reads its schedules from the database (edit them in the admin):
# https://django-celery-beat.readthedocs.io/en/latest/
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# ---------------------------------------------------------------------------
# Progress and diagnostics (this project's own settings)
# ---------------------------------------------------------------------------
# Minimum seconds between two published progress messages of one task.
PROGRESS_PUBLISH_INTERVAL = env.float("PROGRESS_PUBLISH_INTERVAL", default=0.05)
# How long a task's snapshot is kept after its last change.
PROGRESS_SNAPSHOT_TTL = env.int("PROGRESS_SNAPSHOT_TTL", default=24 * 3600)
# A worker that has not refreshed its heartbeat for this long counts as gone.
WORKER_HEARTBEAT_TTL = env.float("WORKER_HEARTBEAT_TTL", default=2.0)
# A task queued this long while workers are online gets a diagnosis in words (wrong queue,
# unknown task on the workers, all busy) in its snapshot's message.
STUCK_AFTER_SECONDS = env.float("STUCK_AFTER_SECONDS", default=10.0)
# Timeout of each network call of /health/ and `manage.py doctor`: both answer fast even
# when a service is down or hung.
DIAGNOSTICS_TIMEOUT = env.float("DIAGNOSTICS_TIMEOUT", default=0.5)
# Abuse limit: how many unfinished (queued or running) tasks one owner may have at once.
PROGRESS_MAX_ACTIVE_TASKS = env.int("PROGRESS_MAX_ACTIVE_TASKS", default=5)
# ... and one client address, whatever its sessions (cookies are free to drop): 429 past it.
PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS = env.int("PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS", default=20)
# ... and everyone together: past it POST /tasks/ answers 503 and queues nothing.
PROGRESS_MAX_QUEUED = env.int("PROGRESS_MAX_QUEUED", default=1000)
# The client address is the socket's peer, unless a proxy in front appends the real one to
# X-Forwarded-For (a client could otherwise claim any address there).
PROGRESS_TRUSTED_PROXY = env.bool(
    "DJANGO_BEHIND_PROXY", default=env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
)
# How long a worker retries writing a task's end while Redis is away, instead of losing it.
PROGRESS_END_WRITE_RETRY_SECONDS = env.float("PROGRESS_END_WRITE_RETRY_SECONDS", default=120)
# A running task with no progress.set for this long says so ("the worker may be stuck"),
# and `manage.py doctor` lists it.
STALLED_AFTER_SECONDS = env.float("STALLED_AFTER_SECONDS", default=120)
# Open progress WebSockets one owner may have per web process (past it: close code 4429).
PROGRESS_MAX_SOCKETS_PER_OWNER = env.int("PROGRESS_MAX_SOCKETS_PER_OWNER", default=20)
# Open WebSockets one web process is sized for: at start it raises its open-files limit as
# far as it may and warns (one line) when that stays below this (diagnostics/limits.py).
DJANGO_WEB_MAX_SOCKETS = env.int("DJANGO_WEB_MAX_SOCKETS", default=10_000)
# How long Daphne waits for a client to answer a WebSocket's close before it drops the
# connection, and what it still had to send with it (autobahn's default is 1 s; see
# django_starter/web_servers.py).
DJANGO_WS_CLOSE_TIMEOUT = env.float("DJANGO_WS_CLOSE_TIMEOUT", default=30)
# GET /metrics (Prometheus): answered in development and to loopback; in production also to
# `Authorization: Bearer <METRICS_TOKEN>` when this is set (diagnostics/metrics.py).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The tasks (or canvas factories) that POST /tasks/ and the page may start; the first is
# the default. Each declares its arguments with a Django form (see live_progress/registry.py).
PROGRESS_TASKS = env.list(
    "PROGRESS_TASKS",
    default=["django_starter.tasks.long_running_task", "django_starter.tasks.parallel_demo"],
)
# Diagnostics adds to each live snapshot why a queued task waits, or that a running one
# stalled (the app counts workers and queue positions itself).
PROGRESS_LIVE_FIELDS = "diagnostics.live.live_fields"
# The page's title and brand.
PROGRESS_PAGE_TITLE = "Django Starter"
# Finished tasks are kept in the history (TaskRun) this many days; then
# `manage.py purge_task_history` deletes them.
PROGRESS_HISTORY_DAYS = env.float("PROGRESS_HISTORY_DAYS", default=30)
PROGRESS_PAGE_SIZE = env.int("PROGRESS_PAGE_SIZE", default=20)

FLOWER_PORT = env.int("FLOWER_PORT", default=8054)

# ---------------------------------------------------------------------------
# Security. Always on: no framing, no MIME sniffing, small request bodies.
# TLS parts are switched on by env for deployments behind HTTPS.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the page's JavaScript reads it for X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response (django-csp): scripts, styles, images and
# connections from this site only (WebSockets to it included: 'self' matches ws:/wss: on the
# same host and port), no framing. The page and the admin need no inline script or style; the
# one admin page with an inline script (a periodic task's form, from django-celery-beat) gets
# a nonce of its own (django_starter/templates/admin/djcelery/). Add sources for a CDN or a
# WebSocket host of your own with DJANGO_CSP_SCRIPT_SRC, DJANGO_CSP_CONNECT_SRC, ...
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE, *env.list("DJANGO_CSP_SCRIPT_SRC", default=[])],
        "style-src": [SELF, *env.list("DJANGO_CSP_STYLE_SRC", default=[])],
        "img-src": [SELF, "data:", *env.list("DJANGO_CSP_IMG_SRC", default=[])],
        "connect-src": [SELF, *env.list("DJANGO_CSP_CONNECT_SRC", default=[])],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
    }
}
# The API takes tiny bodies: refuse anything bigger than 64 KiB (Django answers 400).
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
# CSRF refusals of the API answer JSON the page can show.
CSRF_FAILURE_VIEW = "live_progress.web.views.csrf_failure"
# Origins other than the site's own that may POST and open WebSockets, scheme and port
# included (e.g. https://app.example.com behind a proxy on another name).
# https://docs.djangoproject.com/en/5.2/ref/settings/#csrf-trusted-origins
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Serve over HTTPS? Set DJANGO_SECURE=1: secure cookies, SSL redirect and HSTS together.
DJANGO_SECURE = env.bool("DJANGO_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=DJANGO_SECURE)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=DJANGO_SECURE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int(
    "DJANGO_SECURE_HSTS_SECONDS", default=31536000 if DJANGO_SECURE else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0
)
# Preload asks browsers to ship the domain as HTTPS-only (opt out: DJANGO_SECURE_HSTS_PRELOAD=0).
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
# Trust X-Forwarded-Proto only when a TLS proxy that sets it is really in front: a client
# talking to Daphne directly could otherwise claim HTTPS.
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Every record is printed once, by the root's console handler. Django's default logging
# gives the "django" logger a console handler of its own too (when DEBUG), so each request
# line of runserver ("HTTP GET / 200", logger django.channels.server) printed twice: here
# that logger keeps only the e-mail to ADMINS on errors in production, as by default.
# https://docs.djangoproject.com/en/5.2/ref/logging/#default-logging-configuration
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["mail_admins"], "level": LOG_LEVEL}},
}
