# bench/rates.bash: the "rates" suite of bench/run (sourced, not run).
#
# What the reverse proxy costs at the rates most sites live at (issue 17):
# the proxy's CPU time per request and the p99 at fixed rates of 100,
# 1,000 and 5,000 requests a second, and flat out; and its CPU use when
# idle. Same backend as the proxy suite (nginx answering "ok\n" on CPU 1,
# over TCP); each proxy has one worker pinned to CPU 0; the load runs on
# CPU 1. Proxies: nginx, frontdoor (defaults: busy polling on) and
# frontdoor --busy-poll 0 ("nopoll"), all three up for the whole suite on
# ports of their own, measured one after the other at each rate, in an
# order rotated each round, ROUNDS times; the median of the rounds is
# reported, with ratios against issue 17's targets.
#
# Fixed rates are sent by bench/rateload (open-loop, like wrk2: latency
# counted from when a request was due, so a stall is charged to every
# request behind it), over 10 keep-alive connections; it reads the CPU
# time of the proxy's whole process tree (nginx's worker is its master's
# child) in nanoseconds from /proc/PID/task/TID/schedstat, and the times
# its threads were put on a CPU ("wake-ups"). Debian's hey paces each
# connection with a ticker that waits for the previous answer (a stall
# hides the requests it delays), and /proc/PID/stat counts CPU in 10 ms
# ticks: 100 req/s for 10 s is 40 ms of nginx's CPU, 4 ticks.
# Flat out is wrk -t1 -c50 as in the proxy suite, its CPU from
# /proc/PID/stat (plenty of ticks there).
#
# Idle: each proxy started, one request made through it (so frontdoor's
# backend pool holds a connection, as on a live site), left 5 s to settle,
# then watched with no traffic for IDLE (default 60s): CPU in % of one
# core, and wake-ups a second.
#
# Env: DURATION (each figure, default 10s; a fixed rate runs for at least
# 3,000 requests: 30 s at 100 req/s), IDLE (default 60s), RATES
# (default "100 1000 5000"). Raw outputs in bench/out/rates/.
#
# Uses from bench/run and bench/proxy.bash: out, www, rounds, duration, fd,
# pids, median, start_backend, start_proxy, stop_proxy, stop_pid,
# proc_ticks, wrk_field, proxy_port.

rdir=$out/rates
rates_proxies=(nginx frontdoor frontdoor_nopoll)
rates_list=(${RATES:-100 1000 5000})
rates_conns=10
idle_duration=${IDLE:-60s}

# rates_fixed FILE RATE: one rateload run at RATE against PROXY_PID; its
# key=value line in FILE, the per-thread lines in FILE.threads. A run
# lasts DURATION, or long enough for rates_min_requests requests if that
# is longer: the p99 of 1,000 requests (10 s at 100 req/s) is their tenth
# slowest, which one hiccup of the machine decides.
rates_min_requests=3000
rates_fixed() {
	local d=${duration%s}
	[[ $d =~ ^[0-9]+$ ]] && [ $((rates_min_requests / $2)) -gt "$d" ] && d=$((rates_min_requests / $2))
	[[ $d =~ ^[0-9]+$ ]] && d=${d}s || d=$duration
	taskset -c 1 "$out/rateload" -addr "127.0.0.1:$proxy_port" -path /ok -rate "$2" \
		-c "$rates_conns" -d "$d" -pid "$PROXY_PID" -threads > "$1" 2> "$1.threads"
}

# rates_flat FILE: wrk flat out against PROXY_PID, as load.bash's
# load_wrk, converted to rateload's keys.
rates_flat() {
	local p0 p1 t0 t1 tck
	tck=$(getconf CLK_TCK)
	p0=$(proc_ticks "$PROXY_PID")
	t0=$(date +%s%N)
	taskset -c 1 wrk -t1 -c50 -d"$duration" --latency "http://127.0.0.1:$proxy_port/ok" > "$1.wrk"
	t1=$(date +%s%N)
	p1=$(proc_ticks "$PROXY_PID")
	echo "cpu: - - $(awk -v a="$p0" -v b="$p1" -v t0="$t0" -v t1="$t1" -v h="$tck" \
		'BEGIN {printf "%.2f", 100*(b-a)/h / ((t1-t0)/1e9)}')" >> "$1.wrk"
	printf 'rate=%s p99_ms=%s cpu_us_per_req=%s wakeups_per_req=- errors=%s\n' \
		"$(wrk_field "$1.wrk" rps)" "$(wrk_field "$1.wrk" p99)" "$(wrk_field "$1.wrk" usreq)" \
		"$(wrk_field "$1.wrk" errors)" > "$1"
}

# rates_key FILE KEY → one value of a result line.
rates_key() { tr ' ' '\n' < "$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

# rates_med SCENARIO PROXY KEY → the median over the rounds.
rates_med() {
	local f
	local f v
	v=$(for f in "$rdir"/r*-"$1"-"$2".txt; do rates_key "$f" "$3"; done | grep -v '^-$' || true)
	if [ -n "$v" ]; then echo "$v" | median; else echo -; fi
}

run_rates() {
	for tool in nginx wrk taskset curl ss; do
		command -v $tool >/dev/null || { echo "bench: $tool missing (make bench installs it)" >&2; exit 1; }
	done
	rm -rf "$rdir"
	mkdir -p "$rdir"
	go build -o "$out/rateload" "$repo/bench/rateload"
	[ -f "$www/1m.bin" ] || head -c 1048576 /dev/urandom > "$www/1m.bin"
	start_backend

	# Every proxy runs for the whole suite, each on a port of its own
	# (an idle one costs nothing), so that the three figures of a rate are
	# taken seconds apart, in an order rotated each round.
	local r i n=${#rates_proxies[@]} p sc f base_port=$proxy_port
	local -A port ppid
	for i in $(seq 0 $((n - 1))); do
		p=${rates_proxies[$i]}
		proxy_port=$((base_port + i))
		start_proxy "$p" tcp
		port[$p]=$proxy_port
		ppid[$p]=$PROXY_PID
	done
	local scenarios=("${rates_list[@]}" flat)
	for r in $(seq "$rounds"); do
		for sc in "${scenarios[@]}"; do
			for i in $(seq 0 $((n - 1))); do
				p=${rates_proxies[$(((i + r - 1) % n))]}
				proxy_port=${port[$p]} PROXY_PID=${ppid[$p]}
				f=$rdir/r$r-$sc-$p.txt
				if [ "$sc" = flat ]; then
					rates_flat "$f"
				else
					rates_fixed "$f" "$sc" || echo "bench: rateload at $sc req/s against $p failed (see $f)" >&2
				fi
				printf 'round %d %-16s %6s: %8.0f req/s p99 %7.3f ms %7.1f us/req\n' "$r" "$p" "$sc" \
					"$(rates_key "$f" rate)" "$(rates_key "$f" p99_ms)" "$(rates_key "$f" cpu_us_per_req)" >&2
			done
		done
	done
	for p in "${rates_proxies[@]}"; do stop_pid "${ppid[$p]}"; done
	proxy_port=$base_port

	# Idle: nginx and frontdoor alone (with no traffic, frontdoor polls
	# nothing: its defaults stand for both).
	for p in nginx frontdoor; do
		start_proxy "$p" tcp
		sleep 5 # past the start-up: its GC, the runtime's first timers
		taskset -c 1 "$out/rateload" -idle -d "$idle_duration" -pid "$PROXY_PID" -threads \
			> "$rdir/idle-$p.txt" 2> "$rdir/idle-$p.txt.threads"
		stop_proxy
		echo "idle $p: $(cat "$rdir/idle-$p.txt")" >&2
	done
	stop_pid "$BACKEND_PID"

	ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "-"}'; }
	{
		echo "== proxy CPU per request at fixed rates: one worker on CPU 0; backend nginx and the load on CPU 1; $duration x $rounds rounds (median)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx: $(nginx -v 2>&1 | sed 's/.*\///')  frontdoor: $($fd version | cut -d' ' -f2)"
		echo "fixed rates: bench/rateload, open-loop, $rates_conns conns; flat: wrk -t1 -c50; fd = frontdoor defaults, nopoll = --busy-poll 0"
		echo "us = the proxy's CPU time per request (whole process tree); wk = its threads' wake-ups per request"
		printf '%-6s | %8s %8s %8s | %7s %7s %7s | %7s %7s %7s | %5s %5s %5s | %7s %7s %7s %7s\n' rate \
			"req/s ng" "fd" "nopoll" "us ngx" "us fd" "nopoll" "p99 ngx" "p99 fd" "nopoll" "wk ng" "fd" "nop" \
			"us f/n" "nop/n" "p99 f/n" "nop/n"
		local sc ng fdv nop
		for sc in "${rates_list[@]}" flat; do
			declare -A m=()
			for p in "${rates_proxies[@]}"; do
				for k in rate cpu_us_per_req p99_ms wakeups_per_req; do
					m[$p.$k]=$(rates_med "$sc" "$p" "$k")
				done
			done
			printf '%-6s | %8.0f %8.0f %8.0f | %7.1f %7.1f %7.1f | %7.3f %7.3f %7.3f | %5s %5s %5s | %7s %7s %7s %7s\n' "$sc" \
				"${m[nginx.rate]}" "${m[frontdoor.rate]}" "${m[frontdoor_nopoll.rate]}" \
				"${m[nginx.cpu_us_per_req]}" "${m[frontdoor.cpu_us_per_req]}" "${m[frontdoor_nopoll.cpu_us_per_req]}" \
				"${m[nginx.p99_ms]}" "${m[frontdoor.p99_ms]}" "${m[frontdoor_nopoll.p99_ms]}" \
				"${m[nginx.wakeups_per_req]:--}" "${m[frontdoor.wakeups_per_req]:--}" "${m[frontdoor_nopoll.wakeups_per_req]:--}" \
				"$(ratio "${m[frontdoor.cpu_us_per_req]}" "${m[nginx.cpu_us_per_req]}")" \
				"$(ratio "${m[frontdoor_nopoll.cpu_us_per_req]}" "${m[nginx.cpu_us_per_req]}")" \
				"$(ratio "${m[frontdoor.p99_ms]}" "${m[nginx.p99_ms]}")" \
				"$(ratio "${m[frontdoor_nopoll.p99_ms]}" "${m[nginx.p99_ms]}")"
			unset m
		done
		echo "targets (issue 17): us f/n and nop/n <= 1.2 at ${rates_list[*]} req/s; p99 f/n <= 1.0 there; flat: no worse than the proxy suite's"
		local in ifd
		in=$(rates_key "$rdir/idle-nginx.txt" cpu_pct)
		ifd=$(rates_key "$rdir/idle-frontdoor.txt" cpu_pct)
		printf 'idle %s: CPU %% of a core: nginx %s, frontdoor %s (fd - ngx = %s, target <= 0.1); wake-ups/s: nginx %s, frontdoor %s\n' \
			"$idle_duration" "$in" "$ifd" "$(awk -v a="$ifd" -v b="$in" 'BEGIN {printf "%.4f", a-b}')" \
			"$(rates_key "$rdir/idle-nginx.txt" wakeups_per_s)" "$(rates_key "$rdir/idle-frontdoor.txt" wakeups_per_s)"
	} | tee "$out/rates.txt"
}
