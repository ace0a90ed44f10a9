"""Views of the example site: a home page and the endpoints frontdoor's tests drive."""
import asyncio
import hashlib
import logging
import re
import time

from django.db.models import F
from django.http import (
    Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from mysite import version
from pages import events
from pages.models import Visit

log = logging.getLogger('mysite.pages')

# Request headers that /echo/ reports: what a proxy in front of Django sets or must keep.
_ECHOED_HEADERS = {
    'Host': 'HTTP_HOST',
    'X-Forwarded-For': 'HTTP_X_FORWARDED_FOR',
    'X-Forwarded-Proto': 'HTTP_X_FORWARDED_PROTO',
    'X-Forwarded-Host': 'HTTP_X_FORWARDED_HOST',
    'X-Real-IP': 'HTTP_X_REAL_IP',
    'X-Request-ID': 'HTTP_X_REQUEST_ID',
    'Content-Type': 'CONTENT_TYPE',
    'Content-Length': 'CONTENT_LENGTH',
    'Connection': 'HTTP_CONNECTION',
    'Transfer-Encoding': 'HTTP_TRANSFER_ENCODING',
    'Cookie': 'HTTP_COOKIE',
}

# /big/ content: byte i of the body is BIG_ALPHABET[i % 64], so a client can
# check any range without keeping a copy.
BIG_ALPHABET = b'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/'
_BIG_BLOCK = BIG_ALPHABET * 1024  # 64 KiB, a whole number of alphabets

_PROTECTED_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9._-]{0,200}$')


def index(request):
    """The home page: a template, a hashed stylesheet and a visit counter in the database."""
    visit, _ = Visit.objects.get_or_create(path='/')
    Visit.objects.filter(pk=visit.pk).update(count=F('count') + 1)
    visit.refresh_from_db()
    return render(request, 'pages/index.html', {'visits': visit.count, 'message': version.MESSAGE})


def healthz(request):
    """Liveness without touching the database."""
    return HttpResponse('ok\n', content_type='text/plain')


def version_view(request):
    """The MESSAGE constant of mysite/version.py, which deploy tests edit."""
    return HttpResponse(version.MESSAGE, content_type='text/plain; charset=utf-8')


@csrf_exempt
def echo(request):
    """Describe the request as the app saw it, and log its body's length and digest."""
    body = request.body
    digest = hashlib.sha256(body).hexdigest()
    log.info(
        'echo method=%s path=%s body_length=%d body_sha256=%s request_id=%s',
        request.method, request.path, len(body), digest, request.META.get('HTTP_X_REQUEST_ID', '-'),
    )
    files = []
    post = {}
    if request.method == 'POST':
        post = {key: request.POST.getlist(key) for key in request.POST}
        for field in request.FILES:
            for upload in request.FILES.getlist(field):
                file_digest = hashlib.sha256()
                for chunk in upload.chunks():
                    file_digest.update(chunk)
                files.append({
                    'field': field,
                    'name': upload.name,
                    'size': upload.size,
                    'sha256': file_digest.hexdigest(),
                })
    headers = {name: request.META[key] for name, key in _ECHOED_HEADERS.items() if key in request.META}
    return JsonResponse({
        'method': request.method,
        'path': request.path,
        'query': {key: request.GET.getlist(key) for key in request.GET},
        'headers': headers,
        'is_secure': request.is_secure(),
        'scheme': request.scheme,
        'remote_addr': request.META.get('REMOTE_ADDR', ''),
        'host': request.get_host(),
        'body_length': len(body),
        'body_sha256': digest,
        'post': post,
        'files': files,
    })


def redirect(request):
    return HttpResponseRedirect('/')


def cookie_set(request):
    """Set cookie NAME=VALUE from ?name=&value= (default flavour=oatmeal)."""
    name = request.GET.get('name', 'flavour')
    value = request.GET.get('value', 'oatmeal')
    response = JsonResponse({'set': {name: value}})
    response.set_cookie(name, value, httponly=True, samesite='Lax', secure=request.is_secure())
    return response


def cookie_get(request):
    return JsonResponse({'cookies': request.COOKIES})


def big(request):
    """?size=N bytes of deterministic content (see BIG_ALPHABET), streamed with a Content-Length."""
    try:
        size = int(request.GET.get('size', '1024'))
    except ValueError:
        return HttpResponseBadRequest('size must be an integer\n')
    if size < 0 or size > 1 << 36:
        return HttpResponseBadRequest('size out of range\n')

    def chunks():
        remaining = size
        while remaining:
            n = min(remaining, len(_BIG_BLOCK))
            yield _BIG_BLOCK[:n]
            remaining -= n

    response = StreamingHttpResponse(chunks(), content_type='application/octet-stream')
    response['Content-Length'] = str(size)
    return response


async def slow(request):
    """Answer after ?ms=N milliseconds (async, so it holds no thread under ASGI)."""
    try:
        ms = max(0, min(600000, int(request.GET.get('ms', '1000'))))
    except ValueError:
        return HttpResponseBadRequest('ms must be an integer\n')
    await asyncio.sleep(ms / 1000)
    return HttpResponse('slept %d ms\n' % ms, content_type='text/plain')


def sse(request):
    """?n=N events ?ms=M apart as text/event-stream, each sent as soon as it is made.

    Under ASGI, mysite.asgi answers /sse/ itself with an async generator:
    Django 3.2 iterates streaming responses synchronously on the event loop.
    """
    n, ms = events.parse_params(request.GET.get)

    def stream():
        for i in range(1, n + 1):
            if i > 1:
                time.sleep(ms / 1000)
            yield events.format_event(i, n)

    response = StreamingHttpResponse(stream())
    for name, value in events.HEADERS:
        response[name] = value
    return response


def protected(request, name):
    """Authorise a download and let the edge send the file (X-Accel-Redirect)."""
    if not _PROTECTED_NAME.match(name):
        raise Http404('no such file')
    response = HttpResponse(b'', content_type='application/octet-stream')
    response['X-Accel-Redirect'] = '/_protected/' + name
    return response


def crash(request):
    raise RuntimeError('crash requested by /crash/')
