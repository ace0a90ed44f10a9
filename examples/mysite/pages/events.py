"""Server-sent events shared by the Django view (WSGI) and the native ASGI handler."""
import json
import time


def format_event(index, total):
    """One text/event-stream event, numbered from 1."""
    data = json.dumps({'n': index, 'of': total, 'time': time.time()})
    return ('id: %d\nevent: tick\ndata: %s\n\n' % (index, data)).encode()


def parse_params(get):
    """(n, ms) from a query dict: how many events, how far apart."""
    n = _bounded(get('n'), 5, 0, 100000)
    ms = _bounded(get('ms'), 100, 0, 600000)
    return n, ms


def _bounded(raw, default, low, high):
    try:
        value = int(raw) if raw not in (None, '') else default
    except ValueError:
        value = default
    return max(low, min(high, value))


HEADERS = [
    ('Content-Type', 'text/event-stream'),
    ('Cache-Control', 'no-cache'),
]
