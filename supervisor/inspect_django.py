# frontdoor's introspection script. frontdoor runs it with the project's own
# interpreter, in the project directory, with DJANGO_SETTINGS_MODULE set, and
# reads one JSON line (after the marker) from stdout. It reports facts only;
# frontdoor decides what is a problem. The database password is part of the
# output (the PostgreSQL health check needs it); frontdoor never logs stdout.
import importlib
import importlib.util
import json
import os
import sys
import traceback

MARKER = 'FRONTDOOR-INSPECT-RESULT:'


def last_line(exc):
    text = ''.join(traceback.format_exception_only(type(exc), exc)).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def text(value):
    return None if value is None else str(value)


def available(module):
    try:
        return importlib.util.find_spec(module) is not None
    except Exception:
        return False


def databases(settings):
    out = {}
    for alias, db in getattr(settings, 'DATABASES', {}).items():
        options = {}
        for key, value in (db.get('OPTIONS') or {}).items():
            if isinstance(value, (str, int, float, bool)):
                options[str(key)] = str(value)
        out[alias] = {
            'engine': text(db.get('ENGINE')) or '',
            'name': text(db.get('NAME')) or '',
            'user': text(db.get('USER')) or '',
            'password': text(db.get('PASSWORD')) or '',
            'host': text(db.get('HOST')) or '',
            'port': text(db.get('PORT')) or '',
            'options': options,
        }
    return out


def try_import(dotted):
    """Import the application object; '' when it works, else the error line."""
    try:
        from django.utils.module_loading import import_string
        import_string(dotted)
        return ''
    except Exception as exc:
        return last_line(exc)


def inspect():
    sys.path.insert(0, os.getcwd())
    out = {
        'python_version': sys.version.split()[0],
        'settings_module': os.environ.get('DJANGO_SETTINGS_MODULE', ''),
        'modules': {m: available(m) for m in ('django', 'gunicorn', 'uvicorn', 'psycopg2', 'psycopg')},
    }
    try:
        import django
        out['django_version'] = django.get_version()
        django.setup()
        from django.conf import settings
        header = getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)
        out.update({
            'wsgi_application': text(getattr(settings, 'WSGI_APPLICATION', None)) or '',
            'asgi_application': text(getattr(settings, 'ASGI_APPLICATION', None)) or '',
            'static_url': text(getattr(settings, 'STATIC_URL', None)) or '',
            'static_root': text(getattr(settings, 'STATIC_ROOT', None)) or '',
            'staticfiles_storage': text(getattr(settings, 'STATICFILES_STORAGE', None)) or '',
            'media_url': text(getattr(settings, 'MEDIA_URL', None)) or '',
            'media_root': text(getattr(settings, 'MEDIA_ROOT', None)) or '',
            'allowed_hosts': [str(h) for h in getattr(settings, 'ALLOWED_HOSTS', [])],
            'debug': bool(getattr(settings, 'DEBUG', False)),
            'secure_proxy_ssl_header': [str(h) for h in header] if header else None,
            'insecure_secret_key': str(getattr(settings, 'SECRET_KEY', '')).startswith('django-insecure-'),
            'staticfiles_installed': 'django.contrib.staticfiles' in settings.INSTALLED_APPS,
            'databases': databases(settings),
        })
        out['app_import_errors'] = {}
        for key in ('wsgi_application', 'asgi_application'):
            if out[key] and os.environ.get('FRONTDOOR_INSPECT_IMPORT_APP') == '1':
                error = try_import(out[key])
                if error:
                    out['app_import_errors'][out[key]] = error
    except Exception as exc:
        out['settings_error'] = last_line(exc)
        out['settings_traceback'] = traceback.format_exc()
    sys.stdout.write('\n' + MARKER + json.dumps(out) + '\n')
    sys.stdout.flush()


inspect()
