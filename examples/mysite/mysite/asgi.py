"""ASGI entry point: uvicorn serves `mysite.asgi:application`.

Django 3.2 speaks only HTTP over ASGI, so this router answers the rest itself:
  - websocket /ws/echo/   a tiny echo app (text and binary frames)
  - http /sse/            server-sent events from an async generator (Django 3.2
                          would iterate a streaming response synchronously and
                          block the event loop between events)
  - lifespan              acknowledged, nothing to set up
and hands every other HTTP request to Django.
"""
import asyncio
import os
from urllib.parse import parse_qs

from django.core.asgi import get_asgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

django_application = get_asgi_application()

# Import the URLconf (every view) at boot, not at the first request: a
# generation then runs the code that was on disk when it started.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns

# Imported after Django is set up: they read settings.
from django.conf import settings  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from pages import events  # noqa: E402


async def application(scope, receive, send):
    kind = scope['type']
    if kind == 'lifespan':
        await _lifespan(receive, send)
    elif kind == 'websocket':
        if scope['path'] == '/ws/echo/':
            await _websocket_echo(receive, send)
        else:
            await _websocket_reject(receive, send)
    elif kind == 'http' and scope['path'] == '/sse/':
        await _sse(scope, receive, send)
    else:
        await django_application(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message['type'] == 'lifespan.startup':
            await send({'type': 'lifespan.startup.complete'})
        elif message['type'] == 'lifespan.shutdown':
            await send({'type': 'lifespan.shutdown.complete'})
            return


async def _websocket_echo(receive, send):
    while True:
        message = await receive()
        if message['type'] == 'websocket.connect':
            await send({'type': 'websocket.accept'})
        elif message['type'] == 'websocket.receive':
            if message.get('text') is not None:
                await send({'type': 'websocket.send', 'text': message['text']})
            else:
                await send({'type': 'websocket.send', 'bytes': message.get('bytes') or b''})
        elif message['type'] == 'websocket.disconnect':
            return


async def _websocket_reject(receive, send):
    message = await receive()
    if message['type'] == 'websocket.connect':
        await send({'type': 'websocket.close', 'code': 1008})


def _host_allowed(scope):
    for name, value in scope.get('headers', []):
        if name == b'host':
            domain, _ = split_domain_port(value.decode('latin1'))
            return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
    return False


async def _sse(scope, receive, send):
    if not _host_allowed(scope):
        await send({'type': 'http.response.start', 'status': 400,
                    'headers': [(b'content-type', b'text/plain')]})
        await send({'type': 'http.response.body', 'body': b'Bad Request (400)\n'})
        return
    query = parse_qs(scope.get('query_string', b'').decode('latin1'))
    n, ms = events.parse_params(lambda key: (query.get(key) or [None])[-1])
    await send({
        'type': 'http.response.start',
        'status': 200,
        'headers': [(k.lower().encode(), v.encode()) for k, v in events.HEADERS],
    })
    disconnected = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        for i in range(1, n + 1):
            if i > 1:
                await asyncio.sleep(ms / 1000)
            if disconnected.done():
                return
            await send({'type': 'http.response.body', 'body': events.format_event(i, n), 'more_body': True})
        await send({'type': 'http.response.body', 'body': b''})
    finally:
        disconnected.cancel()


async def _wait_disconnect(receive):
    while True:
        message = await receive()
        if message['type'] == 'http.disconnect':
            return
