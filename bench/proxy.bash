# bench/proxy.bash: the "proxy" suite of bench/run (sourced, not run).
#
# frontdoor reverse-proxy against nginx, HAProxy and Caddy, each with one
# worker pinned to CPU 0, all in front of the same backend: a second nginx
# (one worker) answering "ok\n" or a 1 MiB file, on a TCP port and a unix
# socket, pinned to CPU 1 with wrk. The backend is the same for every proxy,
# so it costs each of them the same share of CPU 1.
#
# Figures, per proxy, median of ROUNDS alternated rounds:
#   - small response ("ok\n"), keep-alive, 50 connections: req/s and p99,
#     with the backend over TCP and over a unix socket;
#   - 1 MiB response over TCP, 8 connections: MB/s;
#   - and, to read the figures on a shared machine: the proxy's CPU time
#     per request, the busy share of both CPUs, and how many connections
#     the proxy opened to the backend (a kept pool opens one per client).
# Every wrk run's raw output is kept in bench/out/proxy/wrk/; errors (socket
# errors and non-2xx answers) are summed and printed, since a fast proxy that
# drops requests is not fast.
#
# Uses from bench/run: out, www, rounds, duration, fd, pids, terminate,
# forget, median.

proxy_port=18280   # where the proxy under test listens
backend_port=18291 # the backend's TCP port
pdir=$out/proxy
backend_sock=$pdir/backend.sock
small_conns=${SMALL_CONNS:-50}
big_conns=${BIG_CONNS:-8}

# Every proxy, measured in this order in round 1, rotated by one each round
# so that no proxy always runs right after the same neighbour. frontdoor
# busy-polls by default (bench/RESULTS.md says why), so it is measured
# both ways: "frontdoor" (defaults) and "frontdoor_nopoll" (--busy-poll 0);
# HAProxy likewise: "haproxy" (defaults) and "haproxy_bp" (its
# busy-polling option, the mechanism frontdoor's polling is modelled on).
# A figure of polling frontdoor is compared with polling HAProxy, a figure
# of non-polling frontdoor with non-polling HAProxy; nginx and Caddy never
# poll.
proxies=(nginx haproxy haproxy_bp caddy frontdoor frontdoor_nopoll)

# Both Go servers get the same GOMAXPROCS: frontdoor raises its own to
# workers + 1 (so that handshakes and housekeeping always have a P), which
# is 2 with one worker; Caddy gets 2 as well. Both are pinned to CPU 0.
go_procs=2

# port_free PORT: wait until nothing listens on 127.0.0.1:PORT.
port_free() {
	for _ in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q . || return 0
		sleep 0.05
	done
	echo "bench: port $1 still in use" >&2
	return 1
}

# wait_ok URL: wait until URL answers 200 with the body "ok".
wait_ok() {
	for _ in $(seq 200); do
		[ "$(curl -s --max-time 1 "$1" 2>/dev/null)" = ok ] && return 0
		sleep 0.05
	done
	echo "bench: $1 does not answer ok" >&2
	return 1
}

# stop_pid PID: SIGTERM, wait for it (SIGKILL after 5 s), and forget it.
stop_pid() {
	terminate "$1"
	forget "$1"
}

start_backend() {
	mkdir -p "$pdir/backend/logs"
	rm -f "$backend_sock"
	cat > "$pdir/backend/nginx.conf" <<CONF
# bench backend: a fixed fast responder for every proxy under test.
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
error_log $pdir/backend/logs/error.log;
pid $pdir/backend/nginx.pid;
events { worker_connections 10000; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type application/octet-stream;
  client_body_temp_path $pdir/backend/body;
  server {
    listen 127.0.0.1:$backend_port;
    listen unix:$backend_sock;
    root $www;
    location = /ok { default_type text/plain; return 200 "ok\n"; }
    # How many connections the proxies opened: a proxy that keeps its
    # pool opens about one per client connection, once.
    location = /status { stub_status; }
  }
}
CONF
	port_free $backend_port
	taskset -c 1 nginx -p "$pdir/backend" -c "$pdir/backend/nginx.conf" &
	BACKEND_PID=$!
	pids+=("$BACKEND_PID")
	wait_ok "http://127.0.0.1:$backend_port/ok"
	[ "$(curl -s --unix-socket "$backend_sock" http://backend/ok)" = ok ] || {
		echo "bench: backend unix socket does not answer" >&2
		return 1
	}
}

# upstream_addr KIND → the backend address for KIND (tcp|unix) in each
# proxy's own syntax: upstream_addr KIND PROXY.
upstream_addr() {
	case $1:$2 in
	tcp:*) echo "127.0.0.1:$backend_port" ;;
	unix:nginx) echo "unix:$backend_sock" ;;
	unix:haproxy) echo "unix@$backend_sock" ;;
	unix:caddy) echo "unix/$backend_sock" ;;
	unix:frontdoor*) echo "unix:$backend_sock" ;;
	esac
}

# Each start_proxy_X KIND starts proxy X in front of the backend over KIND,
# pinned to CPU 0, and sets PROXY_PID. The forwarding headers a Django site
# needs (client address, scheme, Host) are set by every proxy, so each does
# the same work: frontdoor and Caddy set them by default; nginx and HAProxy
# are told to.

start_proxy_nginx() {
	local d=$pdir/nginx
	mkdir -p "$d/logs"
	cat > "$d/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
master_process on;
error_log $d/logs/error.log;
pid $d/nginx.pid;
events { worker_connections 10000; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  upstream backend {
    server $(upstream_addr "$1" nginx);
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
CONF
	taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" 2>>"$d/logs/stderr.log" &
	PROXY_PID=$!
}

# http-reuse safe: HAProxy's default and the setting its manual recommends.
# The first request of each client connection gets a server connection of
# its own; every later one may use any idle server connection. wrk's 50
# connections each send thousands of requests, so after the first 50 the
# pool is shared exactly as with "always" — without "always"'s risk of
# sending a client's first request on a server connection that is closing.
start_proxy_haproxy() { haproxy_with "$1" haproxy ""; }
start_proxy_haproxy_bp() { haproxy_with "$1" haproxy_bp "  busy-polling"; }

# haproxy_with KIND NAME GLOBAL-EXTRA: HAProxy with one thread, its
# configuration in $pdir/NAME, GLOBAL-EXTRA added to its global section.
haproxy_with() {
	local d=$pdir/$2
	mkdir -p "$d"
	cat > "$d/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 9000
$3

defaults
  mode http
  option http-keep-alive
  http-reuse safe
  option forwardfor
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s

frontend fe
  bind 127.0.0.1:$proxy_port
  http-request set-header X-Forwarded-Proto http
  default_backend be

backend be
  server backend $(upstream_addr "$1" haproxy)
CONF
	taskset -c 0 haproxy -db -f "$d/haproxy.cfg" 2>>"$d/stderr.log" &
	PROXY_PID=$!
}

# Caddy's keep-alive pool keeps 32 idle connections per host by default;
# it gets 64, like nginx's "keepalive 64", so that 50 clients never churn
# backend connections.
start_proxy_caddy() {
	local d=$pdir/caddy
	mkdir -p "$d"
	cat > "$d/Caddyfile" <<CONF
{
	admin off
	auto_https off
}

http://127.0.0.1:$proxy_port {
	bind 127.0.0.1
	reverse_proxy $(upstream_addr "$1" caddy) {
		transport http {
			keepalive 75s
			keepalive_idle_conns_per_host 64
		}
	}
}
CONF
	XDG_DATA_HOME=$d/data XDG_CONFIG_HOME=$d/config GOMAXPROCS=$go_procs \
		taskset -c 0 caddy run --config "$d/Caddyfile" --adapter caddyfile 2>>"$d/stderr.log" &
	PROXY_PID=$!
}

start_proxy_frontdoor() {
	mkdir -p "$pdir/frontdoor"
	GOMAXPROCS=$go_procs taskset -c 0 "$fd" reverse-proxy --listen "127.0.0.1:$proxy_port" \
		--to "$(upstream_addr "$1" frontdoor)" --workers 1 "${@:2}" 2>>"$pdir/frontdoor/stderr.log" &
	PROXY_PID=$!
}

start_proxy_frontdoor_nopoll() { start_proxy_frontdoor "$1" --busy-poll 0; }

# start_proxy NAME KIND: start it, check that it answers correctly.
start_proxy() {
	port_free $proxy_port
	"start_proxy_$1" "$2"
	pids+=("$PROXY_PID")
	wait_ok "http://127.0.0.1:$proxy_port/ok"
	local size
	size=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$proxy_port/1m.bin")
	[ "$size" = 1048576 ] || { echo "bench: $1 ($2) served $size bytes of /1m.bin" >&2; return 1; }
}

stop_proxy() { stop_pid "$PROXY_PID"; }

# cpu_ticks → "busy0 total0 busy1 total1" from /proc/stat.
cpu_ticks() {
	awk '/^cpu[01] / {idle=$5+$6; t=0; for (i=2; i<=NF; i++) t+=$i; printf "%d %d ", t-idle, t} END {print ""}' /proc/stat
}

# proc_ticks PID → CPU clock ticks used so far by PID and its children
# (nginx's worker is a child of its master).
proc_ticks() {
	local p t=0 f
	for p in "$1" $(pgrep -P "$1"); do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo $t
}

# backend_accepts → connections the backend has accepted so far (each
# call adds one: its own).
backend_accepts() {
	curl -s "http://127.0.0.1:$backend_port/status" | awk 'NR==3 {print $1}'
}

# wrk_run FILE URL CONNS: one wrk run against the proxy PROXY_PID, raw
# output kept in FILE, followed by a "cpu:" line: the busy share of CPU 0
# (the proxy, and the kernel's network work and whatever else the machine
# ran there), of CPU 1 (wrk and the backend) and the proxy's own CPU use,
# in % of the run; then a "backend-conns:" line: the connections the proxy
# opened to the backend during the run (through TCP or the unix socket).
wrk_run() {
	local before after p0 p1 t0 t1 a0 a1
	a0=$(backend_accepts)
	before=$(cpu_ticks)
	p0=$(proc_ticks "$PROXY_PID")
	t0=$(date +%s%N)
	taskset -c 1 wrk -t1 -c"$3" -d"$duration" --latency "$2" > "$1"
	t1=$(date +%s%N)
	p1=$(proc_ticks "$PROXY_PID")
	after=$(cpu_ticks)
	echo "$before $after $p0 $p1 $t0 $t1 $(getconf CLK_TCK)" | awk '{
		printf "cpu: %.0f %.0f %.0f\n", 100*($5-$1)/($6-$2), 100*($7-$3)/($8-$4),
			100*($10-$9)/$13 / (($12-$11)/1e9) }' >> "$1"
	a1=$(backend_accepts)
	echo "backend-conns: $((a1 - a0 - 1))" >> "$1"
}

# wrk_field FILE FIELD → one number from a wrk output: rps, p99 (ms), mbps,
# errors (socket errors + non-2xx answers), cpu0, cpu1 (% busy), cpuproxy
# (the proxy's own CPU use, %), conns (backend connections opened), usreq
# (the proxy's CPU time per request, µs: what the proxy costs, less
# sensitive than req/s to whatever else shares the machine).
wrk_field() {
	awk -v f="$2" '
	function ms(v,  u) { u=v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
		return u=="us" ? v/1000 : u=="ms" ? v : u=="s" ? v*1000 : u=="m" ? v*60000 : v }
	/^Requests\/sec/ { rps=$2 }
	/^ +99%/ { p99=ms($2) }
	/^Transfer\/sec/ { v=$2; u=v; gsub(/[0-9.]/, "", u); gsub(/[A-Za-z]/, "", v)
		mbps = u=="GB" ? v*1024 : u=="KB" ? v/1024 : u=="B" ? v/1048576 : v }
	/Socket errors/ { gsub(/,/, ""); errs += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx/ { errs += $NF }
	/^cpu:/ { cpu0=$2; cpu1=$3; cpuproxy=$4 }
	/^backend-conns:/ { conns=$2 }
	END {
		r["rps"]=rps; r["p99"]=p99; r["mbps"]=mbps; r["errors"]=errs+0
		r["cpu0"]=cpu0; r["cpu1"]=cpu1; r["cpuproxy"]=cpuproxy; r["conns"]=conns
		r["usreq"]=rps > 0 ? cpuproxy * 10000 / rps : 0
		print r[f] }' "$1"
}

# col NAME KEY FIELD → the median of FIELD over the rounds of NAME's KEY runs
# (or the sum, for errors).
col() {
	local files=("$pdir"/wrk/r*-"$1"-"$2".txt)
	if [ "$3" = errors ]; then
		for f in "${files[@]}"; do wrk_field "$f" errors; done | awk '{s+=$1} END {print s+0}'
	else
		for f in "${files[@]}"; do wrk_field "$f" "$3"; done | median
	fi
}

run_proxy() {
	for tool in nginx haproxy caddy wrk taskset curl ss; do
		command -v $tool >/dev/null || { echo "bench: $tool missing (make bench installs it)" >&2; exit 1; }
	done
	rm -rf "$pdir/wrk"
	mkdir -p "$pdir/wrk"
	[ -f "$www/1m.bin" ] || head -c 1048576 /dev/urandom > "$www/1m.bin"
	start_backend

	local r i n=${#proxies[@]} name f
	for r in $(seq "$rounds"); do
		for i in $(seq 0 $((n - 1))); do
			name=${proxies[$(((i + r - 1) % n))]}
			f=$pdir/wrk/r$r-$name
			start_proxy "$name" tcp
			wrk_run "$f-tcp.txt" "http://127.0.0.1:$proxy_port/ok" "$small_conns"
			wrk_run "$f-1m.txt" "http://127.0.0.1:$proxy_port/1m.bin" "$big_conns"
			stop_proxy
			start_proxy "$name" unix
			wrk_run "$f-unix.txt" "http://127.0.0.1:$proxy_port/ok" "$small_conns"
			stop_proxy
			printf 'round %d %-11s tcp %6.0f req/s p99 %6.2f ms | unix %6.0f req/s p99 %6.2f ms | 1 MiB %7.1f MB/s | errors %d\n' \
				"$r" "$name" \
				"$(wrk_field "$f-tcp.txt" rps)" "$(wrk_field "$f-tcp.txt" p99)" \
				"$(wrk_field "$f-unix.txt" rps)" "$(wrk_field "$f-unix.txt" p99)" \
				"$(wrk_field "$f-1m.txt" mbps)" \
				"$(($(wrk_field "$f-tcp.txt" errors) + $(wrk_field "$f-unix.txt" errors) + $(wrk_field "$f-1m.txt" errors)))" >&2
		done
	done
	stop_pid "$BACKEND_PID"

	local -A v
	local key field p
	for p in "${proxies[@]}"; do
		for key in tcp unix 1m; do
			for field in rps p99 mbps errors cpu0 cpu1 cpuproxy conns usreq; do
				v[$p.$key.$field]=$(col "$p" "$key" "$field")
			done
		done
	done

	# row LABEL FORMAT KEY FIELD TARGET [noratio]: one figure for every
	# proxy, then frontdoor's ratios: polling frontdoor over nginx, over
	# polling HAProxy and over Caddy; non-polling frontdoor over nginx and
	# over non-polling HAProxy.
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "-"}'; }
	row() {
		local fdv=${v[frontdoor.$3.$4]} nop=${v[frontdoor_nopoll.$3.$4]} r1=- r2=- r3=- r4=- r5=-
		if [ "${6:-}" != noratio ]; then
			r1=$(ratio "$fdv" "${v[nginx.$3.$4]}")
			r2=$(ratio "$fdv" "${v[haproxy_bp.$3.$4]}")
			r3=$(ratio "$fdv" "${v[caddy.$3.$4]}")
			r4=$(ratio "$nop" "${v[nginx.$3.$4]}")
			r5=$(ratio "$nop" "${v[haproxy.$3.$4]}")
		fi
		printf "%-34s $2 $2 $2 $2 $2 $2 %7s %7s %7s %7s %7s  %s\n" "$1" \
			"${v[nginx.$3.$4]}" "${v[haproxy.$3.$4]}" "${v[haproxy_bp.$3.$4]}" "${v[caddy.$3.$4]}" "$fdv" "$nop" \
			"$r1" "$r2" "$r3" "$r4" "$r5" "$5"
	}
	# per_round LABEL KEY FIELD FD PEER ge|le TARGET: FD's FIELD over
	# PEER's, round by round, then "k/n" rounds on the target's side. A
	# ratio of medians hides how often the two trade places; on a noisy
	# machine this shows it.
	per_round() {
		local r ratios="" a b
		for r in $(seq "$rounds"); do
			a=$(wrk_field "$pdir/wrk/r$r-$4-$2.txt" "$3")
			b=$(wrk_field "$pdir/wrk/r$r-$5-$2.txt" "$3")
			ratios+="$(ratio "$a" "$b") "
		done
		echo "${ratios% }" | awk -v label="$1" -v op="$6" -v t="$7" '{
			k=0; for (i=1; i<=NF; i++) if ((op=="ge" && $i>=t) || (op=="le" && $i<=t)) k++
			printf "%-40s %s  (%d of %d rounds %s %s)\n", label, $0, k, NF, op=="ge" ? ">=" : "<=", t }'
	}
	{
		echo "== reverse proxy: one worker on CPU 0; backend nginx (1 worker) and wrk -t1 on CPU 1; $duration x $rounds rounds (median)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx: $(nginx -v 2>&1 | sed 's/.*\///')  haproxy: $(haproxy -v | awk 'NR==1 {print $3}')  caddy: $(caddy version | awk '{print $1}')  frontdoor: $($fd version | cut -d' ' -f2)"
		echo "small = \"ok\\n\" (3 bytes), keep-alive, $small_conns conns; 1 MiB over TCP, $big_conns conns; errors = wrk socket errors + non-2xx, summed over the rounds"
		echo "hap-bp = HAProxy with busy-polling; fd = frontdoor defaults (busy polling on); nopoll = frontdoor --busy-poll 0; GOMAXPROCS=$go_procs for Caddy and frontdoor"
		echo "ratios: fd/ngx, fd/hapbp (both poll), fd/caddy, nop/ngx, nop/hap (neither polls)"
		printf '%-34s %9s %9s %9s %9s %9s %9s %7s %7s %7s %7s %7s  %s\n' figure nginx haproxy hap-bp caddy fd nopoll \
			fd/ngx fd/hapbp fd/cad nop/ngx nop/hap target
		row "small, TCP backend, req/s" "%9.0f" tcp rps ">= 1.0 nginx, >= 5 caddy"
		row "small, TCP backend, p99 ms" "%9.2f" tcp p99 "<= 1.0 nginx"
		row "small, unix backend, req/s" "%9.0f" unix rps ">= 1.0 nginx, >= 5 caddy"
		row "small, unix backend, p99 ms" "%9.2f" unix p99 "<= 1.0 nginx"
		row "1 MiB, TCP backend, MB/s" "%9.1f" 1m mbps "-"
		row "proxy CPU us/request, small TCP" "%9.1f" tcp usreq "lower is better"
		row "proxy CPU us/request, small unix" "%9.1f" unix usreq "lower is better"
		row "  proxy CPU %, small TCP" "%9.0f" tcp cpuproxy "(its own process)" noratio
		row "  CPU 0 busy %, small TCP" "%9.0f" tcp cpu0 "(proxy, softirq, others)" noratio
		row "  CPU 1 busy %, small TCP" "%9.0f" tcp cpu1 "(wrk + backend)" noratio
		row "  backend conns opened, small TCP" "%9.0f" tcp conns "(<= $small_conns: pool kept)" noratio
		row "  proxy CPU %, small unix" "%9.0f" unix cpuproxy "" noratio
		row "  CPU 0 busy %, small unix" "%9.0f" unix cpu0 "" noratio
		row "  CPU 1 busy %, small unix" "%9.0f" unix cpu1 "" noratio
		row "  backend conns opened, small unix" "%9.0f" unix conns "" noratio
		row "  proxy CPU %, 1 MiB" "%9.0f" 1m cpuproxy "" noratio
		row "  backend conns opened, 1 MiB" "%9.0f" 1m conns "" noratio
		row "  errors, small TCP" "%9d" tcp errors "0" noratio
		row "  errors, small unix" "%9d" unix errors "0" noratio
		row "  errors, 1 MiB" "%9d" 1m errors "0" noratio
		echo
		echo "-- per round: frontdoor's figure over its peer's from the same round (servers a minute apart), and how many rounds meet the target"
		per_round "small, TCP, req/s: fd / nginx" tcp rps frontdoor nginx ge 1.0
		per_round "small, TCP, req/s: nopoll / nginx" tcp rps frontdoor_nopoll nginx ge 1.0
		per_round "small, TCP, req/s: fd / haproxy-bp" tcp rps frontdoor haproxy_bp ge 1.0
		per_round "small, TCP, req/s: fd / caddy" tcp rps frontdoor caddy ge 5.0
		per_round "small, TCP, p99: fd / nginx" tcp p99 frontdoor nginx le 1.0
		per_round "small, TCP, p99: nopoll / nginx" tcp p99 frontdoor_nopoll nginx le 1.0
		per_round "small, unix, req/s: fd / nginx" unix rps frontdoor nginx ge 1.0
		per_round "small, unix, req/s: nopoll / nginx" unix rps frontdoor_nopoll nginx ge 1.0
		per_round "small, unix, req/s: fd / caddy" unix rps frontdoor caddy ge 5.0
		per_round "small, unix, p99: fd / nginx" unix p99 frontdoor nginx le 1.0
		per_round "small, unix, p99: nopoll / nginx" unix p99 frontdoor_nopoll nginx le 1.0
		per_round "CPU us/request TCP: fd / nginx" tcp usreq frontdoor nginx le 1.0
		per_round "CPU us/request TCP: nopoll / nginx" tcp usreq frontdoor_nopoll nginx le 1.0
		per_round "CPU us/request unix: fd / nginx" unix usreq frontdoor nginx le 1.0
	} | tee "$out/proxy.txt"
}
