#!/usr/bin/env bash
# bench/django-bytes.bash: bytes on the wire for the Django admin's first
# page load — /admin/ (a redirect), the login page and every stylesheet
# and script it pulls in (CSS @imports included) — with a browser's
# Accept-Encoding, behind frontdoor (as `frontdoor init` configures it)
# and behind nginx with Debian's default gzip settings (nginx.conf's
# "gzip on;" and nothing else: gzip level 1, text/html only), in front of
# the same gunicorn and the same collected static files.
#
#   bench/django-bytes.bash
#
# It measures bytes, not time, so one run is enough. FRONTDOOR=path
# measures another binary than bin/frontdoor. Prints one line per request
# and the totals; the figure to track is frontdoor's total over nginx's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
fd=${FRONTDOOR:-$repo/bin/frontdoor}
py=/usr/bin/python3
[ -x "$fd" ] || (cd "$repo" && make build)
for tool in nginx curl; do
	command -v $tool >/dev/null || { echo "django-bytes: $tool missing (scripts/ensure-deps bench)" >&2; exit 1; }
done
"$py" -c 'import django, gunicorn' 2>/dev/null || { echo "django-bytes: $py lacks django/gunicorn (apt-get install python3-django gunicorn)" >&2; exit 1; }

work=$(mktemp -d /tmp/fd-bytes.XXXXXX)
pids=()
cleanup() {
	local p
	for p in ${pids[@]+"${pids[@]}"}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url: until it answers 200
	for _ in $(seq 600); do
		[ "$(curl -s -o /dev/null -H 'Host: localhost' -w '%{http_code}' "$1")" = 200 ] && return 0
		sleep 0.1
	done
	echo "django-bytes: $1 does not answer 200" >&2
	return 1
}

# The stock site, with what a deployment needs and nothing else.
(cd "$work" && "$py" -m django startproject mysite >/dev/null)
project=$work/mysite
cat >>"$project/mysite/settings.py" <<'PY'

DEBUG = False
ALLOWED_HOSTS = ['localhost', '127.0.0.1']
STATIC_ROOT = BASE_DIR / 'staticfiles'
PY
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$work"
	chown -R nobody:nogroup "$project" # frontdoor never runs the app as root
fi

# frontdoor, as init writes it (plus loopback listeners and its own state).
fport=$(free_port)
"$fd" init "$project" --domain localhost --config "$work/frontdoor.toml" >"$work/init.log" || true
cat >>"$work/frontdoor.toml" <<TOML

[server]
http = ["127.0.0.1:$fport"]
state = "$work/state/state.db"
runtime_dir = "$work/run"
access_log = "off"
workers = 1
TOML
"$fd" run --config "$work/frontdoor.toml" 2>"$work/frontdoor.log" &
pids+=($!)
# The first generation serves once the release steps are done.
for _ in $(seq 600); do
	"$fd" status --json --admin "$work/run/admin.sock" 2>/dev/null | grep -q '"upstream": "unix:' && break
	sleep 0.2
done
wait_http "http://127.0.0.1:$fport/admin/login/"

# nginx with Debian's defaults in front of a gunicorn of its own, serving
# the static files frontdoor's release steps collected.
nport=$(free_port)
mkdir "$work/gsock"
sock=$work/gsock/gunicorn.sock
runas=()
if [ "$(id -u)" -eq 0 ]; then
	runas=(runuser -u nobody --)
	chown nobody "$work/gsock"
fi
(cd "$project" && exec ${runas[@]+"${runas[@]}"} "$py" -m gunicorn -b "unix:$sock" -w 2 mysite.wsgi:application) 2>"$work/gunicorn.log" &
pids+=($!)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log off;
	sendfile on;
	tcp_nopush on;
	# Debian's /etc/nginx/nginx.conf: gzip on, the rest of its gzip lines commented out.
	gzip on;
	client_body_temp_path $work/nginx;
	proxy_temp_path $work/nginx;
	server {
		listen 127.0.0.1:$nport;
		location /static/ { alias $project/staticfiles/; }
		location / {
			proxy_pass http://unix:$sock;
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$nport/admin/login/"

ae='gzip, deflate, br, zstd'
# get BASE PATH → "bytes status content-encoding" for one request
get() {
	curl -s -o "$work/body" -H "Accept-Encoding: $ae" -H 'Host: localhost' \
		-w '%{size_header} %{size_download} %{http_code} %header{content-encoding}\n' "$1$2"
}
# assets PATH-OF-HTML → the stylesheets and scripts it links
assets() {
	{ grep -oE '(href|src)="/static/[^"]+\.(css|js)"' "$1" || true; } | sed -E 's/^(href|src)="//; s/"$//' | sort -u
}
# css_imports URL-PATH → @import'ed stylesheets of a stylesheet, as paths
css_imports() {
	local dir=${1%/*}
	{ grep -oE '@import url\("?[^")]+"?\)' "$2" || true; } | sed -E 's/@import url\("?//; s/"?\)$//' | while read -r f; do echo "$dir/$f"; done
}

measure() { # NAME BASE
	local name=$1 base=$2 total=0 line paths p
	echo "== $name"
	line=$(get "$base" /admin/)
	echo "  /admin/ $line"
	total=$((total + $(echo "$line" | awk '{print $1 + $2}')))
	line=$(get "$base" "/admin/login/?next=/admin/")
	echo "  /admin/login/ $line"
	total=$((total + $(echo "$line" | awk '{print $1 + $2}')))
	curl -s -H 'Host: localhost' "$base/admin/login/?next=/admin/" >"$work/page.html"
	paths=$(assets "$work/page.html")
	for p in $paths; do
		if [[ $p == *.css ]]; then
			curl -s -H 'Host: localhost' "$base$p" >"$work/sheet.css"
			paths="$paths $(css_imports "$p" "$work/sheet.css")"
		fi
	done
	for p in $(echo "$paths" | tr ' ' '\n' | sort -u); do
		line=$(get "$base" "$p")
		echo "  $p $line"
		total=$((total + $(echo "$line" | awk '{print $1 + $2}')))
	done
	echo "  total $total bytes (headers and bodies)"
	eval "${name}_total=$total"
}

measure frontdoor "http://127.0.0.1:$fport"
measure nginx "http://127.0.0.1:$nport"
echo
awk -v f="$frontdoor_total" -v n="$nginx_total" 'BEGIN {
	printf "Django admin first page load, bytes on the wire: frontdoor %d, nginx (Debian gzip defaults) %d, frontdoor/nginx %.2f\n", f, n, f / n
}'
