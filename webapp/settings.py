"""Django settings, all from the environment (12-factor).

The embedded default needs nothing set: SQLite and media live in the state folder
(`STATE_DIR`, default `var/`). Production sets `DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`
and `ALLOWED_HOSTS`.
"""

from __future__ import annotations

import datetime as dt

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pipeline import config, logs

config.load_local_env()
STATE_DIR = config.state_dir()
BASE_DIR = config.BASE_DIR

DEBUG = config.get("DEBUG")

SECRET_KEY = config.secret_key()  # with DEBUG off: required, and refused when short or a placeholder

# With the hosts the platform sends by itself: on Railway its health check's (to /health/ only) and the public domain.
ALLOWED_HOSTS = config.get("ALLOWED_HOSTS") + config.platform_hosts()
CSRF_TRUSTED_ORIGINS = config.get("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "webapp.inbox",
    "webapp.documents",
    "webapp.register",
    "webapp.login_throttle.LoginAttemptsConfig",  # django-axes
]

MIDDLEWARE = [
    "webapp.platform_hosts.HealthCheckHostMiddleware",  # Railway's health check's host reaches /health/ only
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the browser's language (Accept-Language), among LANGUAGES
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a login it refused with webapp/login_throttle.py's page
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
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


def _database() -> dj_database_url.DBConfig:
    url = config.get("DATABASE_URL")
    if not url:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{STATE_DIR / 'db.sqlite3'}"
    db = dj_database_url.parse(url, conn_max_age=config.get("DB_CONN_MAX_AGE"), conn_health_checks=True)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
        # BEGIN so a transaction never fails half-way with "database is locked". The connection is
        # kept (DB_CONN_MAX_AGE) as on PostgreSQL: opening one costs about 1 ms of CPU, once per
        # message when each closed, three times a mail.
        db["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    else:
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = config.get("LANGUAGE_CODE")
TIME_ZONE = config.get("TIME_ZONE")
USE_I18N = True
# Pages follow the browser's language among these; es-CL (and any es-*) falls back to es.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]  # our Spanish: locale/es/LC_MESSAGES/django.po, compiled .mo committed
# Chilean dates and numbers under es: 22-11-2026, 1.234.567 (webapp/formats/es/formats.py).
FORMAT_MODULE_PATH = ["webapp.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"  # collectstatic fills it in the image; the finders serve it with DEBUG on
MEDIA_ROOT = STATE_DIR / "media"
MEDIA_URL = None  # files are served by our download views, never straight from a folder

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Objects are named by their content hash, so overwriting one rewrites the same bytes.
        "OPTIONS": {"location": str(MEDIA_ROOT), "allow_overwrite": True},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# STORAGE_BACKEND=s3: S3 or an S3-compatible store (MinIO, R2, Spaces...). Credentials stay in the
# environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3), never in settings.
STORAGE_BACKEND = config.storage_backend()  # local or s3; local refused where the disk does not last
if STORAGE_BACKEND == "s3":
    if not config.get("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("set AWS_STORAGE_BUCKET_NAME (STORAGE_BACKEND=s3 needs it)")
    STORAGES["default"] = {
        "BACKEND": "pipeline.s3.S3Storage",  # a string: boto3 loads on first use, never at start-up
        "OPTIONS": {
            "bucket_name": config.get("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": config.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": config.get("AWS_S3_REGION_NAME") or None,
            "addressing_style": config.get("AWS_S3_ADDRESSING_STYLE") or None,
            "location": config.get("AWS_LOCATION"),
            "signature_version": config.get("AWS_S3_SIGNATURE_VERSION"),
            "file_overwrite": True,  # named by hash: the same name is the same bytes
            "default_acl": None,  # the bucket's own (private) policy
            "querystring_auth": True,
            "querystring_expire": config.get("AWS_QUERYSTRING_EXPIRE"),
        },
    }
WHITENOISE_USE_FINDERS = DEBUG
FILE_UPLOAD_PERMISSIONS = 0o640
# Uploads are capped as they stream in (webapp/register/uploads.py), then kept in memory or a temporary file.
FILE_UPLOAD_HANDLERS = [
    "webapp.register.uploads.UploadSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

LOGIN_URL = "admin:login"

# Login throttling (django-axes, webapp/login_throttle.py): LOGIN_FAILURE_LIMIT failed logins lock the
# account they named, and apart from it the address they came from, for LOGIN_LOCKOUT_MINUTES; a
# failure meanwhile starts the time again. A good login wipes nothing: axes would wipe every failure
# from its address too, so a clerk could guess a colleague's password between logins of their own.
# webapp/permissions.py: ModelBackend, a user's and their groups' permissions read in one query.
# ModelBackend stays listed after it so that sessions opened under it stay valid across the deploy;
# it shares the permission cache, so it adds no query.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "webapp.permissions.OneQueryModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = config.get("LOGIN_FAILURE_LIMIT")
AXES_COOLOFF_TIME = dt.timedelta(minutes=config.get("LOGIN_LOCKOUT_MINUTES"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "webapp.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "webapp.login_throttle.client_address"
AXES_DISABLE_ACCESS_LOG = True  # failures are what it is for; a row per successful login would only grow
AXES_VERBOSE = False  # no banner in every process's log at start-up
#: Proxies in front of the web that append to X-Forwarded-For; 0: the address is the connection's.
TRUSTED_PROXY_COUNT = config.get("TRUSTED_PROXY_COUNT")

LOG_FORMAT = logs.log_format()  # plain (make run) or json (the Procfile's default): pipeline/logs.py
LOGGING = logs.django_logging()

# Served over HTTPS (behind the platform's proxy) unless told otherwise: secure cookies,
# HSTS and a redirect to https. The platform's health checks reach /health/ over plain HTTP.
HTTPS = config.get("HTTPS")
if HTTPS is None:
    HTTPS = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = config.get("SECURE_HSTS_SECONDS")
if SECURE_HSTS_SECONDS is None:
    SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
