# frontdoor's introspection script. frontdoor runs it with the project's own
# interpreter, in the project directory, with DJANGO_SETTINGS_MODULE set, and
# reads one JSON line (after the marker) from stdout. It reports facts only;
# frontdoor decides what is a problem. The database password is part of the
# output (the PostgreSQL health check needs it); frontdoor never logs stdout.
#
# Besides the settings' values it reports where they come from: the files
# the settings module pulled in (star imports, globals().update(...) of an
# imported module, a settings_local next to it...), which of them defines
# each setting frontdoor may ask to change, and what each file's namespace
# offers to a suggested line (os imported? BASE_DIR a Path or a str?).
import ast
import importlib
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import sys
import sysconfig
import traceback

MARKER = 'FRONTDOOR-INSPECT-RESULT:'

# The settings frontdoor may suggest a line for: their source file is reported.
WATCHED = (
    'DEBUG', 'ALLOWED_HOSTS', 'SECRET_KEY', 'SECURE_PROXY_SSL_HEADER', 'STATIC_ROOT',
    'STATIC_URL', 'MEDIA_ROOT', 'MEDIA_URL', 'INSTALLED_APPS', 'WSGI_APPLICATION',
    'ASGI_APPLICATION', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'CSRF_TRUSTED_ORIGINS',
    'DATABASES', 'STATICFILES_STORAGE',
)

STDLIB_DIRS = tuple(
    os.path.realpath(p) + os.sep
    for p in {sysconfig.get_paths().get('stdlib'), sysconfig.get_paths().get('platstdlib')} if p
)


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
    for alias, db in (getattr(settings, 'DATABASES', None) or {}).items():
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
        if ':' in dotted:
            module, attr = dotted.split(':', 1)
            mod = importlib.import_module(module)
            if '(' not in attr:
                getattr(mod, attr)
            return ''
        from django.utils.module_loading import import_string
        import_string(dotted)
        return ''
    except Exception as exc:
        return last_line(exc)


def module_file(name):
    """The source file of a module, without running it ('' if none)."""
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return ''
    if spec is None or not spec.origin or not spec.origin.endswith('.py'):
        return ''
    return spec.origin


def package_dir(module):
    """The directory of a dotted module's top-level package, without
    running the module itself ('' for a top-level module)."""
    try:
        spec = importlib.util.find_spec(module.split('.')[0])
    except Exception:
        return ''
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return ''
    return os.path.dirname(os.path.realpath(spec.origin))


def environ_defaults(path):
    """The os.environ.setdefault('K', 'V') calls (and os.environ['K'] = 'V'
    assignments) in a file: the environment an entry point gives itself."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
    except Exception:
        return {}
    out = {}

    def is_environ(node):
        return isinstance(node, ast.Attribute) and node.attr == 'environ'

    def literal(node):
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == 'setdefault' and is_environ(node.func.value) and len(node.args) == 2:
            key, value = literal(node.args[0]), literal(node.args[1])
            if key and value is not None:
                out.setdefault(key, value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Subscript) and is_environ(node.targets[0].value):
            key, value = literal(node.targets[0].slice), literal(node.value)
            if key and value is not None:
                out.setdefault(key, value)
    return out


class Loading:
    """Watches the import of the settings module: which modules it pulled
    in, in which order, from which file, and at which line of which
    importer. It sits first on sys.meta_path and finds nothing itself, so
    it sees importlib.import_module() calls as well as import statements.
    Files are found with PathFinder, not from the modules: a settings module
    that does globals().update(other.__dict__) takes over the other's
    __file__, __spec__ and __name__."""

    def __init__(self):
        self.order = []      # module names, in the order their import began
        self.origins = {}    # module name -> real path of its source file
        self.by_file = {}    # real path -> module name
        self.pulled_at = {}  # module name -> (importer module name, line)
        self.opened = []     # .py files opened for reading (exec(open(...).read()))
        self.active = False
        self.real = {}

    def realpath(self, path):
        if path not in self.real:
            self.real[path] = os.path.realpath(path)
        return self.real[path]

    def record(self, name, path):
        origin = ''
        try:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.origin and spec.origin.endswith('.py'):
                origin = self.realpath(spec.origin)
        except Exception:
            pass
        self.order.append(name)
        self.origins[name] = origin
        if origin:
            self.by_file.setdefault(origin, name)
        frame = sys._getframe(2)
        while frame is not None:
            importer = self.by_file.get(self.realpath(frame.f_code.co_filename))
            if importer is not None and importer != name:
                self.pulled_at[name] = (importer, frame.f_lineno)
                break
            frame = frame.f_back

    def find_spec(self, name, path, target=None):
        if self.active and name not in self.origins:
            self.active = False  # PathFinder may import; do not recurse
            try:
                self.record(name, path)
            finally:
                self.active = True
        return None

    def audit(self, event, args):
        if self.active and event == 'open' and isinstance(args[0], str) and args[0].endswith('.py') \
                and args[1] in (None, 'r', 'rt'):
            self.opened.append(args[0])


def assignments(tree, name):
    """Lines where the module's top-level code (if/try/with/for blocks
    included, functions and classes not) binds name, and whether each is
    a direct statement of the module (unconditional)."""
    out = []

    def targets_of(node):
        if isinstance(node, ast.Assign):
            return node.targets
        if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            return [node.target]
        return []

    def binds(target):
        if isinstance(target, ast.Name):
            return target.id == name
        if isinstance(target, (ast.Tuple, ast.List)):
            return any(binds(t) for t in target.elts)
        return False

    def walk(body, direct):
        for node in body:
            if any(binds(t) for t in targets_of(node)):
                out.append((node.lineno, direct))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for field in ('body', 'orelse', 'finalbody'):
                walk(getattr(node, field, []) or [], False)
            for handler in getattr(node, 'handlers', []) or []:
                walk(handler.body, False)

    walk(tree.body, True)
    return out


def star_imports(tree, module_name, is_package):
    """{imported module name: last line} of the module's `from X import *`."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == '*' for a in node.names):
            base = node.module or ''
            if node.level:
                parts = module_name.split('.')
                if not is_package:
                    parts = parts[:-1]
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = '.'.join(parts + ([base] if base else []))
            out[base] = max(out.get(base, 0), node.lineno)
    return out


class Sources:
    """Finds the file that really defines a setting."""

    def __init__(self, settings_name, loading):
        self.settings_name = settings_name
        self.loading = loading
        self.trees = {}
        self.candidates = [settings_name] + [
            name for name in loading.order if name != settings_name and self.is_settings_like(name)
        ]

    def is_settings_like(self, name):
        real = self.loading.origins.get(name, '')
        if not real or name.split('.')[0] == 'django':
            return False
        if real.startswith(STDLIB_DIRS):
            return False
        if name.split('.')[0] == self.settings_name.split('.')[0]:
            return True
        return 'site-packages' not in real and 'dist-packages' not in real

    def tree(self, name):
        if name not in self.trees:
            path = self.loading.origins.get(name, '')
            try:
                with open(path, encoding='utf-8') as f:
                    self.trees[name] = ast.parse(f.read(), path)
            except Exception:
                self.trees[name] = None
        return self.trees[name]

    def pulled_into(self, importer):
        """(line, module) for each candidate whose names flow into importer."""
        out = []
        module = sys.modules.get(importer)
        tree = self.tree(importer)
        stars = star_imports(tree, importer, hasattr(module, '__path__')) if tree else {}
        for name in self.candidates:
            if name == importer:
                continue
            line = stars.get(name)
            if line is None:
                at = self.loading.pulled_at.get(name)
                if at and at[0] == importer:
                    line = at[1]
            if line is not None:
                out.append((line, name))
        return out

    def source(self, importer, name, value, depth=0):
        tree = self.tree(importer)
        if tree is None or depth > 8:
            return None
        own = assignments(tree, name)
        found = []
        for line, cand in self.pulled_into(importer):
            cand_tree = self.tree(cand)
            module = sys.modules.get(cand)
            if cand_tree is None or not assignments(cand_tree, name):
                continue
            if getattr(module, name, object()) is value:
                found.append((line, cand))
        if found:
            line, cand = max(found)
            if not any(l > line and direct for l, direct in own):
                return self.source(cand, name, value, depth + 1) or cand
        return importer if own else None

    def file_of(self, name):
        return self.loading.origins.get(name, '')

    def namespace(self, name):
        module = sys.modules.get(name)
        ns = vars(module) if module else {}
        base = ns.get('BASE_DIR')
        kind = 'path' if isinstance(base, pathlib.PurePath) else 'str' if isinstance(base, str) else ''
        return {'has_os': getattr(ns.get('os'), '__name__', '') == 'os', 'base_dir': kind, 'base_dir_value': str(base) if kind else ''}


def weak_secret_key(key):
    """Django's own test (check --deploy, security.W009): startproject's
    development key, or too short or too plain to be secret (a package's
    placeholder such as graphite-web's 'UNSAFE_DEFAULT')."""
    return key.startswith('django-insecure-') or len(key) < 50 or len(set(key)) < 5


def raw_setting(settings, name, default=None):
    """The value as written: LazySettings prefixes MEDIA_URL and STATIC_URL
    with the script prefix, which turns Django's default MEDIA_URL '' into '/'."""
    wrapped = getattr(settings, '_wrapped', None)
    try:
        return getattr(wrapped, name)
    except Exception:
        return getattr(settings, name, default)


def absolute_paths(settings):
    """Settings whose value is an existing absolute path (for the owner of
    the files the application writes)."""
    out = {}
    for name in dir(settings):
        if not name.isupper():
            continue
        value = raw_setting(settings, name)
        if isinstance(value, pathlib.PurePath):
            value = str(value)
        if isinstance(value, str) and value.startswith('/') and '\n' not in value and os.path.exists(value):
            out[name] = value
    return out


def inspect():
    sys.path.insert(0, os.getcwd())
    out = {
        'python_version': sys.version.split()[0],
        'modules': {m: available(m) for m in ('django', 'gunicorn', 'uvicorn', 'psycopg2', 'psycopg', 'celery')},
    }
    entry = os.environ.get('FRONTDOOR_INSPECT_APP', '')
    if entry:
        path = module_file(entry.split(':', 1)[0])
        out['entry_file'] = path
        out['entry_env'] = environ_defaults(path) if path else {}
        for key, value in out['entry_env'].items():
            os.environ.setdefault(key, value)
    out['settings_module'] = os.environ.get('DJANGO_SETTINGS_MODULE', '')
    out['settings_package_dir'] = package_dir(out['settings_module'])
    loading = Loading()
    try:
        import django
        out['django_version'] = django.get_version()
        parent, _, _ = out['settings_module'].rpartition('.')
        loading.record(out['settings_module'], importlib.import_module(parent).__path__ if parent else None)
        sys.addaudithook(loading.audit)
        sys.meta_path.insert(0, loading)
        loading.active = True
        try:
            importlib.import_module(out['settings_module'])
        finally:
            loading.active = False
            sys.meta_path.remove(loading)
        django.setup()
        from django.conf import settings
        header = getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)
        installed = [str(a) for a in settings.INSTALLED_APPS]
        out.update({
            'wsgi_application': text(getattr(settings, 'WSGI_APPLICATION', None)) or '',
            'asgi_application': text(getattr(settings, 'ASGI_APPLICATION', None)) or '',
            'static_url': text(raw_setting(settings, 'STATIC_URL')) or '',
            'static_root': text(getattr(settings, 'STATIC_ROOT', None)) or '',
            'staticfiles_storage': text(getattr(settings, 'STATICFILES_STORAGE', None)) or '',
            'media_url': text(raw_setting(settings, 'MEDIA_URL')) or '',
            'media_root': text(getattr(settings, 'MEDIA_ROOT', None)) or '',
            'allowed_hosts': [str(h) for h in getattr(settings, 'ALLOWED_HOSTS', [])],
            'debug': bool(getattr(settings, 'DEBUG', False)),
            'secure_proxy_ssl_header': [str(h) for h in header] if header else None,
            'insecure_secret_key': weak_secret_key(str(getattr(settings, 'SECRET_KEY', ''))),
            'staticfiles_installed': 'django.contrib.staticfiles' in installed,
            'installed_apps': installed,
            'session_cookie_secure': bool(getattr(settings, 'SESSION_COOKIE_SECURE', False)),
            'csrf_cookie_secure': bool(getattr(settings, 'CSRF_COOKIE_SECURE', False)),
            'csrf_trusted_origins': [str(o) for o in getattr(settings, 'CSRF_TRUSTED_ORIGINS', [])],
            'compress_offline': bool(getattr(settings, 'COMPRESS_OFFLINE', False)) and 'compressor' in installed,
            'rq_queues': sorted(str(q) for q in (getattr(settings, 'RQ_QUEUES', None) or {})),
            'databases': databases(settings),
            'paths': absolute_paths(settings),
        })
        sources = Sources(out['settings_module'], loading)
        files = []
        for name in sources.candidates:
            path = sources.file_of(name)
            if path:
                files.append(dict(sources.namespace(name), module=name, path=path))
        module_files = set(loading.origins.values()) | {
            os.path.realpath(m.__file__) for m in list(sys.modules.values())
            if isinstance(getattr(m, '__file__', None), str)}
        for path in dict.fromkeys(loading.opened):
            real = os.path.realpath(path)
            if not real.startswith(STDLIB_DIRS) and real not in module_files:
                files.append({'module': '', 'path': real, 'has_os': False, 'base_dir': '', 'base_dir_value': ''})
        out['settings_files'] = files
        defined = {}
        for name in WATCHED:
            if not hasattr(settings, name):
                continue
            src = sources.source(out['settings_module'], name, getattr(settings._wrapped, name, None))
            if src:
                defined[name] = sources.file_of(src)
        out['defined_in'] = defined
        if not entry:
            # The entry point the settings name: the environment it gives
            # itself may choose other settings than manage.py's.
            dotted = out['asgi_application'] or out['wsgi_application']
            if dotted:
                path = module_file(dotted.rsplit('.', 1)[0])
                out['entry_file'] = path
                out['entry_env'] = environ_defaults(path) if path else {}
        out['app_import_errors'] = {}
        if os.environ.get('FRONTDOOR_INSPECT_IMPORT_APP') == '1':
            apps = [a for a in (entry, out['wsgi_application'], out['asgi_application']) if a]
            for dotted in dict.fromkeys(apps):
                error = try_import(dotted)
                if error:
                    out['app_import_errors'][dotted] = error
    except Exception as exc:
        out['settings_error'] = last_line(exc)
        out['settings_traceback'] = traceback.format_exc()
    sys.stdout.write('\n' + MARKER + json.dumps(out) + '\n')
    sys.stdout.flush()


inspect()
