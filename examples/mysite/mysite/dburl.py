"""Parse DATABASE_URL into a Django DATABASES entry (no third-party package).

Accepted forms:
    postgres://user:pass@host:5432/dbname
    postgresql://user@%2Frun%2Fpostgresql/dbname      (socket dir, percent-encoded)
    postgres://user@/dbname?host=/run/postgresql      (socket dir as a parameter)
    sqlite:////absolute/path/db.sqlite3
Other query parameters (sslmode=require, ...) become OPTIONS.
"""
from urllib.parse import parse_qsl, unquote, urlsplit

_POSTGRES_SCHEMES = ('postgres', 'postgresql', 'pgsql')


def parse(url):
    """Return a DATABASES['default'] dict for url; raise ValueError if unusable."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == 'sqlite':
        path = unquote(parts.path)
        if not path or path == '/':
            raise ValueError('DATABASE_URL: sqlite needs a path, e.g. sqlite:////var/lib/mysite/db.sqlite3')
        return {'ENGINE': 'django.db.backends.sqlite3', 'NAME': path}
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError('DATABASE_URL: unsupported scheme %r (use postgres:// or sqlite://)' % parts.scheme)

    # urlsplit lowercases .hostname and cannot hold a '/', so take the netloc apart by hand.
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition('@')
    user, _, password = userinfo.partition(':')
    host, port = hostport, ''
    if hostport.startswith('['):  # [::1]:5432
        end = hostport.find(']')
        host, port = hostport[1:end], hostport[end + 2:]
    elif ':' in hostport:
        host, _, port = hostport.rpartition(':')
    options = dict(parse_qsl(parts.query))
    host = unquote(options.pop('host', host))
    port = options.pop('port', port)
    name = unquote(parts.path.lstrip('/'))
    if not name:
        raise ValueError('DATABASE_URL: the database name is missing (postgres://user:pass@host:5432/NAME)')
    return {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': name,
        'USER': unquote(user),
        'PASSWORD': unquote(password),
        'HOST': host,
        'PORT': port,
        'OPTIONS': options,
    }
