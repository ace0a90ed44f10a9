# bench/tls.bash: the "tls" suite of bench/run (sourced, not run).
#
# HTTPS: frontdoor against nginx and Caddy, each with one worker on CPU 0,
# all with the same ECDSA P-256 certificate, in front of the same backend (a
# second nginx answering "ok\n", one worker, on CPU 1 with the clients).
#
# Figures, median of ROUNDS alternated rounds:
#   - proxied small response over HTTPS, keep-alive, 50 connections: req/s;
#   - a static 1 KiB file over HTTPS, keep-alive, 50 connections: req/s;
#   - full TLS handshakes per second: four `openssl s_time -new` clients in
#     parallel on CPU 1 (-new: no session resumption, on any server); the
#     clients verify an ECDSA signature per handshake, which costs them more
#     than the server's signing, so on a 2-core machine they can be the
#     bottleneck: the server's CPU time per handshake is printed too;
#   - the extra resident memory per idle TLS connection, 9,000 held
#     (bench/holdconns -tls, a Go client offering X25519MLKEM768 as browsers
#     do).
#
# Uses from bench/run: out, www, rounds, duration, fd, pids, terminate,
# median, wrk_rps, rss_kb, wait_port.

tls_port=18380
tls_backend=18391
tdir=$out/tls

tls_setup() {
	mkdir -p "$tdir/ngx/logs" "$tdir/be/logs" "$tdir/caddy"
	if [ ! -f "$tdir/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
			-keyout "$tdir/key.pem" -out "$tdir/cert.pem" -subj /CN=localhost \
			-addext "subjectAltName=DNS:localhost" 2>/dev/null
	fi
	cat > "$tdir/be/nginx.conf" <<CONF
worker_processes 1; daemon off; error_log $tdir/be/logs/error.log; pid $tdir/be/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$tls_backend; location / { return 200 "ok\n"; } } }
CONF
	cat > "$tdir/ngx/nginx.conf" <<CONF
worker_processes 1; worker_rlimit_nofile 20000; daemon off;
error_log $tdir/ngx/logs/error.log; pid $tdir/ngx/nginx.pid;
events { worker_connections 10000; }
http {
  access_log off; sendfile on; keepalive_requests 1000000; keepalive_timeout 300s;
  upstream app { server 127.0.0.1:$tls_backend; keepalive 64; }
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $tdir/cert.pem; ssl_certificate_key $tdir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location /static/ { alias $www/; }
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
	cat > "$tdir/caddy/Caddyfile" <<CONF
{
	admin off
	auto_https off
	servers {
		protocols h1
	}
}
https://:$tls_port {
	tls $tdir/cert.pem $tdir/key.pem
	handle_path /static/* {
		root * $www
		file_server
	}
	handle {
		reverse_proxy 127.0.0.1:$tls_backend {
			transport http {
				keepalive 300s
				keepalive_idle_conns_per_host 64
			}
		}
	}
}
CONF
}

tls_start_backend() {
	taskset -c 1 nginx -p "$tdir/be" -c "$tdir/be/nginx.conf" &
	TLS_BACKEND_PID=$!
	pids+=("$TLS_BACKEND_PID")
	wait_port "127.0.0.1:$tls_backend"
}

# tls_wait: until the server answers over HTTPS.
tls_wait() {
	for _ in $(seq 200); do
		curl -sk -o /dev/null "https://localhost:$tls_port/static/1k.bin" && return 0
		sleep 0.05
	done
	echo "bench: nothing answers HTTPS on $tls_port" >&2
	return 1
}

tls_start() { # server → SERVER_PID, LAUNCH_PID
	https_start "$1" "$tdir" "$tls_port" "$tls_backend" tls_wait
}

# https_start SERVER DIR PORT BACKEND WAIT: starts nginx, Caddy or
# frontdoor with the configuration the suite wrote under DIR, serving
# HTTPS on PORT in front of BACKEND, and runs WAIT until it answers (the
# TLS and the h2 suites) → SERVER_PID, LAUNCH_PID.
https_start() {
	local dir=$2 port=$3 backend=$4 wait=$5
	case $1 in
	nginx)
		taskset -c 0 nginx -p "$dir/ngx" -c "$dir/ngx/nginx.conf" &
		LAUNCH_PID=$!
		$wait
		SERVER_PID=$(pgrep -P "$LAUNCH_PID" | head -1)
		;;
	caddy)
		GOMAXPROCS=$go_procs taskset -c 0 caddy run --config "$dir/caddy/Caddyfile" --adapter caddyfile >"$dir/caddy.log" 2>&1 &
		LAUNCH_PID=$!
		SERVER_PID=$LAUNCH_PID
		$wait
		;;
	frontdoor | frontdoor_nopoll)
		local poll=()
		[ "$1" = frontdoor_nopoll ] && poll=(--busy-poll 0)
		GOMAXPROCS=$go_procs taskset -c 0 "$fd" reverse-proxy --listen "127.0.0.1:$port" --to "127.0.0.1:$backend" \
			--static "/static/=$www" --workers 1 --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" "${poll[@]}" 2>"$dir/frontdoor.log" &
		LAUNCH_PID=$!
		SERVER_PID=$LAUNCH_PID
		$wait
		;;
	esac
	pids+=("$LAUNCH_PID")
}

tls_stop() {
	terminate "$LAUNCH_PID"
	sleep 0.3
}

# server_ticks PID: user+system clock ticks so far (named apart from
# proxy.bash's cpu_ticks: bench/run sources both).
server_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# tls_handshakes → "handshakes/s server-µs-per-handshake"
tls_handshakes() {
	local secs=${duration%s} before after total=0 files=()
	before=$(server_ticks "$SERVER_PID")
	for i in 1 2 3 4; do
		taskset -c 1 openssl s_time -connect "127.0.0.1:$tls_port" -new -time "$secs" >"$tdir/stime.$i" 2>&1 &
		files+=($!)
	done
	wait "${files[@]}" 2>/dev/null || true
	after=$(server_ticks "$SERVER_PID")
	for i in 1 2 3 4; do
		n=$(awk '/connections in/ {print $1; exit}' "$tdir/stime.$i")
		total=$((total + ${n:-0}))
	done
	local hz
	hz=$(getconf CLK_TCK)
	awk -v n="$total" -v s="$secs" -v t=$((after - before)) -v hz="$hz" \
		'BEGIN { printf "%.0f %.0f", n/s, (n ? t/hz*1e6/n : 0) }'
}

# tls_idle_kib: extra KiB per idle TLS connection, 9,000 held.
tls_idle_kib() {
	local n=9000 before after
	sleep 1
	before=$(rss_kb "$SERVER_PID")
	coproc HOLD { taskset -c 1 "$out/holdconns" -addr "127.0.0.1:$tls_port" -n $n -tls -path /static/1k.bin; }
	read -r line <&"${HOLD[0]}"
	[ "$line" = ready ] || { echo "holdconns failed" >&2; return 1; }
	sleep 6 # let a Go server give back what its handshakes freed
	after=$(rss_kb "$SERVER_PID")
	eval "exec ${HOLD[1]}>&-"
	wait "$HOLD_PID" 2>/dev/null || true
	awk -v a="$after" -v b="$before" -v n=$n 'BEGIN {printf "%.2f", (a-b)/n}'
}

run_tls() {
	tls_setup
	tls_start_backend
	declare -A proxied static hs hscpu mem
	local servers=(nginx caddy frontdoor frontdoor_nopoll)
	for r in $(seq "$rounds"); do
		for srv in "${servers[@]}"; do
			tls_start "$srv"
			proxied[$srv]+="$(wrk_rps "https://localhost:$tls_port/" 50) "
			static[$srv]+="$(wrk_rps "https://localhost:$tls_port/static/1k.bin" 50) "
			read -r h c <<<"$(tls_handshakes)"
			hs[$srv]+="$h "
			hscpu[$srv]+="$c "
			tls_stop
			echo "round $r $srv: proxied $(echo ${proxied[$srv]} | awk '{print $NF}'), static $(echo ${static[$srv]} | awk '{print $NF}'), handshakes/s $h ($c µs server CPU each)" >&2
		done
	done
	for srv in nginx caddy frontdoor; do
		tls_start "$srv"
		mem[$srv]=$(tls_idle_kib)
		tls_stop
		echo "$srv: ${mem[$srv]} KiB per idle TLS connection" >&2
	done
	terminate "$TLS_BACKEND_PID"
	med() { echo "$1" | tr ' ' '\n' | grep . | median; }
	local np fp cp ns fs cs nh fh ch nc fc cc
	np=$(med "${proxied[nginx]}"); fp=$(med "${proxied[frontdoor]}"); cp=$(med "${proxied[caddy]}")
	ns=$(med "${static[nginx]}"); fs=$(med "${static[frontdoor]}"); cs=$(med "${static[caddy]}")
	nh=$(med "${hs[nginx]}"); fh=$(med "${hs[frontdoor]}"); ch=$(med "${hs[caddy]}")
	nc=$(med "${hscpu[nginx]}"); fc=$(med "${hscpu[frontdoor]}"); cc=$(med "${hscpu[caddy]}")
	local op os oh oc
	op=$(med "${proxied[frontdoor_nopoll]}"); os=$(med "${static[frontdoor_nopoll]}")
	oh=$(med "${hs[frontdoor_nopoll]}"); oc=$(med "${hscpu[frontdoor_nopoll]}")
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }
	{
		echo "== HTTPS: one worker on CPU 0; clients and the backend on CPU 1; $duration x $rounds rounds (median)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx: $(nginx -v 2>&1 | sed 's/.*\///')  caddy: $(caddy version 2>/dev/null | cut -d' ' -f1)  frontdoor: $($fd version | cut -d' ' -f2)"
		echo "fd = frontdoor defaults (busy polling on); nopoll = --busy-poll 0; Caddy and frontdoor: GOMAXPROCS=$go_procs, 64 idle backend connections like nginx"
		printf '%-46s %10s %10s %10s %10s %8s %8s %8s  %s\n' figure nginx caddy fd nopoll "fd/ngx" "fd/caddy" "nop/ngx" target
		trow() { # LABEL FORMAT nginx caddy fd nopoll TARGET
			printf "%-46s $2 $2 $2 $2 %8s %8s %8s  %s\n" "$1" "$3" "$4" "$5" "$6" "$(ratio "$5" "$3")" "$(ratio "$5" "$4")" "$(ratio "$6" "$3")" "$7"
		}
		trow "proxied small response, keep-alive, req/s" "%10.0f" "$np" "$cp" "$fp" "$op" ">= 0.8 nginx, >= 4 caddy"
		trow "static 1 KiB, keep-alive, req/s" "%10.0f" "$ns" "$cs" "$fs" "$os" ""
		trow "full TLS handshakes/s (ECDSA P-256)" "%10.0f" "$nh" "$ch" "$fh" "$oh" ">= 0.9 nginx"
		trow "  server CPU µs per handshake (lower is better)" "%10.0f" "$nc" "$cc" "$fc" "$oc" ""
		printf '%-46s %10s %10s %10s %10s %8s %8s %8s  %s\n' "KiB per idle TLS connection (9,000 held)" "${mem[nginx]}" "${mem[caddy]}" "${mem[frontdoor]}" "-" "$(ratio "${mem[frontdoor]}" "${mem[nginx]}")" "$(ratio "${mem[frontdoor]}" "${mem[caddy]}")" "-" "<= 4 KiB"
	} | tee "$out/tls.txt"
}
