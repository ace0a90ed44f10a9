# Written by frontdoor at every start of the web process; edits are lost.
# Put your own settings in the project's gunicorn.conf.py: this file loads it
# (gunicorn itself skips it once --config is given), and frontdoor's command
# line flags (bind, workers, worker class, keep-alive) override both.
#
# What it adds: every worker dies with its master. frontdoor starts the
# master with a parent-death signal, but gunicorn's uvicorn worker never
# checks its parent, so a master killed with SIGKILL would leave its workers
# serving. PR_SET_PDEATHSIG in each worker closes that gap.
import ctypes
import os
import signal

_PROJECT_CONFIG = os.path.join(os.getcwd(), 'gunicorn.conf.py')
if os.path.isfile(_PROJECT_CONFIG):
    with open(_PROJECT_CONFIG) as _f:
        exec(compile(_f.read(), _PROJECT_CONFIG, 'exec'))

_project_post_fork = globals().get('post_fork')
_PR_SET_PDEATHSIG = 1


def post_fork(server, worker):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError) as exc:
        server.log.warning('frontdoor: cannot set the parent-death signal: %s', exc)
    if os.getppid() != worker.ppid:  # the master died before prctl took effect
        os._exit(1)
    if _project_post_fork is not None:
        _project_post_fork(server, worker)
