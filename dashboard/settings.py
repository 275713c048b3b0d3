"""Django settings for LR Arena.

Everything that differs between a laptop and a deployment comes from the
environment (see README: PORT, REDIS_URL, DATABASE_URL, DATA_DIR, ...).
The defaults run the whole system on one machine with an SQLite file.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE

from dashboard.env import env_bool, env_int, env_list, env_str
from trainer.paths import default_data_dir

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ARENA_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (
    "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production" if DEBUG else ""
)
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")

# Behind TLS in production: `manage.py check --deploy` passes with these defaults.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    if env_bool("DJANGO_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "axes",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dashboard.middleware.ApiBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into our 429
]

# Content-Security-Policy (django-csp): every script, style, font and image comes from this site.
# Scripts are static files only (no inline script, no eval). Styles allow inline ones because
# Plotly, Redoc and Swagger UI write style elements at run time; the pages' own are static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # the site's own websockets included
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = None

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
                "dashboard.context_processors.teams",
            ],
        },
    },
]

# SQLite by default. WAL lets the web server read while a worker writes epochs;
# IMMEDIATE transactions avoid "database is locked" on lock upgrades.
_default_db = f"sqlite:///{VAR_DIR / 'arena.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db), conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sign-in throttling (django-axes, see dashboard/signin.py): after ARENA_SIGNIN_FAILURES failed
# sign-ins for one username, or from one address, /login/ and /api/token/ answer 429 for the
# cool-off. Only failures count; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ARENA_SIGNIN_FAILURES", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ARENA_SIGNIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # keep failures only, not a row per successful sign-in
AXES_LOCKOUT_CALLABLE = "dashboard.signin.lockout_response"
AXES_VERBOSE = False
if env_bool("DJANGO_BEHIND_PROXY", False):
    AXES_IPWARE_PROXY_COUNT = 1  # the proxy's X-Forwarded-For names the client
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

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

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js is served from the plotly Python package itself: no CDN.
_plotly_spec = importlib.util.find_spec("plotly")
_plotly_data = Path(next(iter(_plotly_spec.submodule_search_locations))) / "package_data"
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", str(_plotly_data))]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
DATA_DIR = env_str("DATA_DIR") or str(default_data_dir())
# One checkpoint per running run, so that a run whose worker died resumes where it stopped:
# the worker's local working copy, and the copy any worker can read (dashboard/checkpoints.py)
# in the `checkpoints` storage. Several machines: point that storage at shared space (a
# django-storages backend such as S3, or a shared mount via ARENA_CHECKPOINT_STORE).
CHECKPOINT_DIR = Path(env_str("ARENA_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "checkpoints": {
        "BACKEND": env_str("ARENA_CHECKPOINT_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": {"location": env_str("ARENA_CHECKPOINT_STORE", str(VAR_DIR / "checkpoint-store"))},
    },
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # channels-redis waits on BZPOPMIN for 5 s; redis-py 8 times out socket reads
            # after 5 s by default, which kills idle consumers. Read for longer than that.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

# Celery: training tasks are long. acks_late + prefetch 1 means a task is only
# acknowledged after it finished, so a worker that dies mid-run hands the run
# back to the queue; the visibility timeout must outlast the longest run or
# Redis redelivers a run that is still training.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 48 * 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Runs on a fleet of workers (dashboard/fleet.py). A worker renews the lease of what
# it trains every ARENA_LEASE_SECONDS / 4; when a lease expires any worker takes the
# run over from its last checkpoint. Every ARENA_RECONCILE_SECONDS each worker hands
# expired runs back to the queue and re-sends queued runs and jobs whose broker
# message is gone (held by no queue, sent more than ARENA_RESEND_AFTER_SECONDS ago).
ARENA_LEASE_SECONDS = env_int("ARENA_LEASE_SECONDS", 60)
ARENA_RECONCILE_SECONDS = env_int("ARENA_RECONCILE_SECONDS", 15)
ARENA_RESEND_AFTER_SECONDS = env_int("ARENA_RESEND_AFTER_SECONDS", 30)
# A self-reported run (dashboard/actions/reports.py) that sends no report (open, epoch, heartbeat) for this
# long is abandoned: the reconciler ends it failed, so that a loop that died holds no quota slot for good.
ARENA_REPORT_TIMEOUT_SECONDS = env_int("ARENA_REPORT_TIMEOUT_SECONDS", 6 * 3600)
# Whether GPU workers consume the `gpu` queue here: runs of workloads that prefer a GPU
# go there when their device is `auto`, and asking for `gpu` without them is an error.
ARENA_GPU_WORKERS = env_bool("ARENA_GPU_WORKERS", False)
# How often at most a training run reports the epoch under way (iterations done, recent loss) to its page:
# one database write and one broadcast each time.
ARENA_PROGRESS_SECONDS = env_int("ARENA_PROGRESS_SECONDS", 2)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dashboard.api.errors.exception_handler",
    # JSON with a size and depth limit (413 / 400 in the API's error format); forms as DRF parses them.
    "DEFAULT_PARSER_CLASSES": [
        "dashboard.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # `?format=csv|json` chooses an export's file type, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LR Arena API",
    "DESCRIPTION": "Define LR policies, queue runs and studies, read leaderboards. "
    "Authenticate with `Authorization: Token <key>` (POST /api/token/) or the session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API's description is public
    # Swagger UI and Redoc are served from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Limits that keep one request from asking the server for absurd work.
ARENA_MAX_EPOCHS = env_int("ARENA_MAX_EPOCHS", 1000)
ARENA_PREVIEW_POINTS = 600
ARENA_MAX_STUDY_RUNS = env_int("ARENA_MAX_STUDY_RUNS", 200)
# A study's runs go to workers in groups of this many, trained together by trainer.batched.
ARENA_BATCH_RUNS = env_int("ARENA_BATCH_RUNS", 8)
# Creating runs and studies, and previewing curves, per user (the pages and the API share the counters).
ARENA_RATE_LIMITS = {
    "runs": env_str("ARENA_RUN_RATE", "60/minute"),
    "previews": env_str("ARENA_PREVIEW_RATE", "240/minute"),
}

# The rate limiter's counters. One daphne process (the default) can keep them in
# memory; several processes share them through Redis (ARENA_CACHE=redis).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if env_str("ARENA_CACHE") == "redis"
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
