// Package supervisor runs a Django site's processes for frontdoor.
//
// It starts the application server — gunicorn for a WSGI project, gunicorn
// with uvicorn workers for an ASGI project — bound to a unix socket under the
// runtime directory, plus any extra named processes (a Celery worker, say).
// Before the first start and before every deploy it runs the release steps
// (wait for PostgreSQL, `manage.py migrate`, `manage.py collectstatic`). It
// restarts crashed children with exponential backoff, classifies boot
// failures (gunicorn exit codes 3 and 4, import errors) as FATAL instead of
// restarting them in a hot loop, performs blue/green deploys that never fail
// a request, watches PostgreSQL with the app's own DATABASES settings, and
// measures each child's CPU and memory over its whole process tree.
//
// The package knows nothing about the edge, the state file or systemd: it
// talks to them through the [Edge] and [Recorder] interfaces, which the
// appliance package implements with adapters.
//
// The entry points are [New] and [Supervisor.Run] (the daemon),
// [Supervisor.Deploy] and [Supervisor.Status] (the operator), and [Inspect]
// (`frontdoor init`: what a Django project looks like and what to fix).
package supervisor
