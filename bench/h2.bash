# bench/h2.bash: the "h2" suite of bench/run (sourced, not run).
#
# HTTP/2 over TLS: frontdoor against nginx (http2 on) and Caddy, each with
# one worker on CPU 0, all with the same ECDSA P-256 certificate, in front
# of the same backend (a second nginx answering "ok\n", one worker, HTTP/1.1
# keep-alive, on CPU 1 with the client).
#
# Figures, median of ROUNDS alternated rounds, h2load -c50 -m10 -t1 on CPU 1
# (50 connections, 10 streams each):
#   - a static 1 KiB file: req/s;
#   - a proxied small response: req/s;
#   - the extra resident memory per idle HTTP/2 connection, 9,000 held
#     (bench/holdconns -tls -h2: ALPN h2, one stream each, then idle).
#
# Uses from bench/run: out, www, rounds, duration, fd, pids, terminate,
# median, rss_kb, wait_port; from tls.bash: tls_setup's certificate.

h2_port=18480
h2_backend=18491
h2dir=$out/h2

h2_setup() {
	mkdir -p "$h2dir/ngx/logs" "$h2dir/be/logs" "$h2dir/caddy"
	if [ ! -f "$h2dir/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
			-keyout "$h2dir/key.pem" -out "$h2dir/cert.pem" -subj /CN=localhost \
			-addext "subjectAltName=DNS:localhost" 2>/dev/null
	fi
	cat > "$h2dir/be/nginx.conf" <<CONF
worker_processes 1; daemon off; error_log $h2dir/be/logs/error.log; pid $h2dir/be/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$h2_backend; location / { return 200 "ok\n"; } } }
CONF
	# nginx 1.22 (Debian 12) turns HTTP/2 on per listen ("http2 on;" is
	# 1.25's); its streams and connections otherwise at their defaults.
	cat > "$h2dir/ngx/nginx.conf" <<CONF
worker_processes 1; worker_rlimit_nofile 20000; daemon off;
error_log $h2dir/ngx/logs/error.log; pid $h2dir/ngx/nginx.pid;
events { worker_connections 10000; }
http {
  access_log off; sendfile on; keepalive_requests 1000000; keepalive_timeout 300s;
  open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s; open_file_cache_min_uses 1;
  upstream app { server 127.0.0.1:$h2_backend; keepalive 64; }
  server {
    listen 127.0.0.1:$h2_port ssl http2;
    ssl_certificate $h2dir/cert.pem; ssl_certificate_key $h2dir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /static/ { alias $www/; }
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
	cat > "$h2dir/caddy/Caddyfile" <<CONF
{
	admin off
	auto_https off
	servers {
		protocols h1 h2
	}
}
https://:$h2_port {
	tls $h2dir/cert.pem $h2dir/key.pem
	handle_path /static/* {
		root * $www
		file_server
	}
	handle {
		reverse_proxy 127.0.0.1:$h2_backend {
			transport http {
				keepalive 300s
				keepalive_idle_conns_per_host 64
			}
		}
	}
}
CONF
}

h2_start_backend() {
	taskset -c 1 nginx -p "$h2dir/be" -c "$h2dir/be/nginx.conf" &
	H2_BACKEND_PID=$!
	pids+=("$H2_BACKEND_PID")
	wait_port "127.0.0.1:$h2_backend"
}

# h2_wait: until the server answers over HTTP/2.
h2_wait() {
	for _ in $(seq 200); do
		[ "$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://localhost:$h2_port/static/1k.bin")" = 2 ] && return 0
		sleep 0.05
	done
	echo "bench: nothing answers HTTP/2 on $h2_port" >&2
	return 1
}

h2_start() { # server → SERVER_PID, LAUNCH_PID (tls.bash)
	https_start "$1" "$h2dir" "$h2_port" "$h2_backend" h2_wait
}

h2_stop() {
	terminate "$LAUNCH_PID"
	forget "$LAUNCH_PID"
	sleep 0.3
}

# h2load_rps URL → requests/s (h2load -c50 -m10 -t1 on CPU 1); 0 when any
# request failed.
h2load_rps() {
	local res
	res=$(taskset -c 1 h2load -c50 -m10 -t1 -D "${duration%s}" --warm-up-time 1 "$1" 2>&1)
	echo "$res" >"$h2dir/h2load.last"
	echo "$res" | awk '
		/^finished in/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^req\/s/) rps = $i; gsub(/,/, "", rps) }
		/^requests:/ { failed = $10 + $12 }
		END { print (failed > 0 ? 0 : rps + 0) }'
}

# h2_idle_kib: extra KiB per idle HTTP/2 connection, 9,000 held.
h2_idle_kib() {
	local n=9000 before after
	sleep 1
	before=$(rss_kb "$SERVER_PID")
	coproc HOLD { taskset -c 1 "$out/holdconns" -addr "127.0.0.1:$h2_port" -n $n -tls -h2 -path /static/1k.bin; }
	read -r line <&"${HOLD[0]}"
	[ "$line" = ready ] || { echo "holdconns failed" >&2; return 1; }
	sleep 6 # let a Go server give back what its handshakes freed
	after=$(rss_kb "$SERVER_PID")
	eval "exec ${HOLD[1]}>&-"
	wait "$HOLD_PID" 2>/dev/null || true
	awk -v a="$after" -v b="$before" -v n=$n 'BEGIN {printf "%.2f", (a-b)/n}'
}

run_h2() {
	command -v h2load >/dev/null || { echo "bench: h2load missing (make bench installs nghttp2-client)" >&2; exit 1; }
	h2_setup
	h2_start_backend
	declare -A proxied static mem
	local servers=(nginx caddy frontdoor frontdoor_nopoll)
	for r in $(seq "$rounds"); do
		for srv in "${servers[@]}"; do
			h2_start "$srv"
			static[$srv]+="$(h2load_rps "https://localhost:$h2_port/static/1k.bin") "
			proxied[$srv]+="$(h2load_rps "https://localhost:$h2_port/") "
			h2_stop
			echo "round $r $srv: static $(echo ${static[$srv]} | awk '{print $NF}'), proxied $(echo ${proxied[$srv]} | awk '{print $NF}')" >&2
		done
	done
	for srv in nginx caddy frontdoor; do
		h2_start "$srv"
		mem[$srv]=$(h2_idle_kib)
		h2_stop
		echo "$srv: ${mem[$srv]} KiB per idle HTTP/2 connection" >&2
	done
	terminate "$H2_BACKEND_PID"
	forget "$H2_BACKEND_PID"
	med() { echo "$1" | tr ' ' '\n' | grep . | median; }
	local ns cs fs os np cp fp op
	ns=$(med "${static[nginx]}"); cs=$(med "${static[caddy]}"); fs=$(med "${static[frontdoor]}"); os=$(med "${static[frontdoor_nopoll]}")
	np=$(med "${proxied[nginx]}"); cp=$(med "${proxied[caddy]}"); fp=$(med "${proxied[frontdoor]}"); op=$(med "${proxied[frontdoor_nopoll]}")
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }
	{
		echo "== HTTP/2 over TLS: one worker on CPU 0; h2load -c50 -m10 -t1 and the backend on CPU 1; $duration x $rounds rounds (median)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx: $(nginx -v 2>&1 | sed 's/.*\///')  caddy: $(caddy version 2>/dev/null | cut -d' ' -f1)  frontdoor: $($fd version | cut -d' ' -f2)  h2load: $(h2load --version 2>&1 | head -1 | awk '{print $NF}')"
		echo "fd = frontdoor defaults (busy polling on); nopoll = --busy-poll 0; Caddy and frontdoor: GOMAXPROCS=$go_procs; 64 idle backend connections for all"
		printf '%-46s %10s %10s %10s %10s %8s %8s %8s  %s\n' figure nginx caddy fd nopoll "fd/ngx" "fd/caddy" "nop/ngx" target
		hrow() { # LABEL nginx caddy fd nopoll TARGET
			printf "%-46s %10.0f %10.0f %10.0f %10.0f %8s %8s %8s  %s\n" "$1" "$2" "$3" "$4" "$5" "$(ratio "$4" "$2")" "$(ratio "$4" "$3")" "$(ratio "$5" "$2")" "$6"
		}
		hrow "h2 static 1 KiB, req/s" "$ns" "$cs" "$fs" "$os" ">= 1.2 nginx"
		hrow "h2 proxied small response, req/s" "$np" "$cp" "$fp" "$op" ">= 1.0 nginx, >= 5 caddy"
		printf '%-46s %10s %10s %10s %10s %8s %8s %8s  %s\n' "KiB per idle h2 connection (9,000 held)" "${mem[nginx]}" "${mem[caddy]}" "${mem[frontdoor]}" "-" "$(ratio "${mem[frontdoor]}" "${mem[nginx]}")" "$(ratio "${mem[frontdoor]}" "${mem[caddy]}")" "-" "<= 6 KiB"
	} | tee "$out/h2.txt"
}
