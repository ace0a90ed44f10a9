"""Settings for the frontdoor example site.

Everything that differs between a laptop and a server comes from the
environment (frontdoor passes the project's .env file to the app):

    DJANGO_SECRET_KEY      secret key (a development default otherwise)
    DJANGO_DEBUG           "1" turns DEBUG on (off by default)
    DJANGO_ALLOWED_HOSTS   comma-separated (default: localhost,127.0.0.1,[::1])
    DJANGO_STATIC_ROOT     where collectstatic writes (default: <project>/staticfiles)
    DJANGO_MEDIA_ROOT      uploaded files (default: <project>/media)
    MYSITE_PROTECTED_ROOT  files served through X-Accel-Redirect (default: <project>/protected)
    DATABASE_URL           postgres://user:pass@host:port/db (SQLite at <project>/db.sqlite3 otherwise)
    MYSITE_LOG_LEVEL       level of the app's own log lines (default INFO)
"""
import os
from pathlib import Path

from mysite import dburl

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get(
    'DJANGO_SECRET_KEY',
    'dev-only-not-secret-mysite-0b7f4c2e9a1d4e6f8c3b5a7d9e1f2a4c6b8d0e2f',
)

DEBUG = os.environ.get('DJANGO_DEBUG', '') == '1'

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get('DJANGO_ALLOWED_HOSTS', 'localhost,127.0.0.1,[::1]').split(',')
    if h.strip()
]

# frontdoor terminates TLS and tells the app through X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')
# The site is served over HTTPS: its cookies never travel in clear.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    'django.contrib.staticfiles',
    'pages',
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]

ROOT_URLCONF = 'mysite.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {'context_processors': ['django.template.context_processors.request']},
    },
]

WSGI_APPLICATION = 'mysite.wsgi.application'

if os.environ.get('DATABASE_URL'):
    DATABASES = {'default': dburl.parse(os.environ['DATABASE_URL'])}
else:
    DATABASES = {
        'default': {
            'ENGINE': 'django.db.backends.sqlite3',
            'NAME': BASE_DIR / 'db.sqlite3',
            # Several gunicorn workers write the visit counter at once.
            'OPTIONS': {'timeout': 20},
        }
    }

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'

LANGUAGE_CODE = 'en-us'
TIME_ZONE = 'UTC'
USE_I18N = False
USE_L10N = False
USE_TZ = True

STATIC_URL = '/static/'
STATIC_ROOT = os.environ.get('DJANGO_STATIC_ROOT', str(BASE_DIR / 'staticfiles'))
# Hashed names (site.0123456789ab.css) that the edge may cache forever.
STATICFILES_STORAGE = 'django.contrib.staticfiles.storage.ManifestStaticFilesStorage'

MEDIA_URL = '/media/'
MEDIA_ROOT = os.environ.get('DJANGO_MEDIA_ROOT', str(BASE_DIR / 'media'))

PROTECTED_ROOT = os.environ.get('MYSITE_PROTECTED_ROOT', str(BASE_DIR / 'protected'))

# The edge buffers and limits request bodies; the app takes what it is given
# (the test suite uploads 50 MB files through /echo/).
DATA_UPLOAD_MAX_MEMORY_SIZE = None
DATA_UPLOAD_MAX_NUMBER_FIELDS = None

LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'formatters': {'plain': {'format': '%(levelname)s %(name)s %(message)s'}},
    'handlers': {'stderr': {'class': 'logging.StreamHandler', 'formatter': 'plain'}},
    'loggers': {
        'mysite': {'handlers': ['stderr'], 'level': os.environ.get('MYSITE_LOG_LEVEL', 'INFO'), 'propagate': False},
        'django': {'handlers': ['stderr'], 'level': 'WARNING', 'propagate': False},
    },
}
