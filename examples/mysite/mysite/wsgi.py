"""WSGI entry point: gunicorn serves `mysite.wsgi:application`."""
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

application = get_wsgi_application()

# Import the URLconf, and with it every view, while the worker boots rather
# than at its first request: a generation then runs the code that was on
# disk when it started, even if a deploy edits the files while it drains.
get_resolver().url_patterns
