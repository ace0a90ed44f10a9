# bench/load.bash: the "load" suite of bench/run (sourced, not run).
#
# The proxy suite measures flat out: 50 connections, no pause. A site
# mostly runs below that, and on a small VPS it shares its CPUs with the
# application. This suite proxies the same backend as the proxy suite
# (nginx answering "ok\n" on CPU 1, over TCP) under other loads:
#   - few connections, no pause: each request waits for the previous one,
#     so latency, not capacity, sets the rate;
#   - 8 and 32 connections with 1 ms of think time per request: a steady
#     moderate load, where what counts is the CPU each request costs;
#   - 4 and 50 connections with a CPU-bound neighbour (a shell loop) on
#     the proxy's CPU: a busy application next to the proxy.
# Proxies: nginx (as in the proxy suite), frontdoor (defaults: busy
# polling on) and frontdoor with --busy-poll 0 (polling off), to show what
# busy polling does and costs. Figures: req/s, p99, and the proxy's own
# CPU time per request; median of ROUNDS rounds.
#
# Uses from bench/run and bench/proxy.bash: out, rounds, duration, fd,
# pids, terminate, forget, median, start_backend, start_proxy, stop_proxy,
# stop_pid, proc_ticks, wrk_field, proxy_port.

ldir=$out/load
load_proxies=(nginx frontdoor frontdoor_nopoll)

# load_wrk FILE CONNS THINK: one wrk run against PROXY_PID with CONNS
# connections (THINK = "think": 1 ms pause before each request), raw output
# in FILE plus a "cpu:" line with the proxy's own CPU use in % (the field
# order of proxy.bash's wrk_run, so wrk_field reads it).
load_wrk() {
	local p0 p1 t0 t1 script=()
	[ "$3" = think ] && script=(-s "$ldir/think.lua")
	p0=$(proc_ticks "$PROXY_PID")
	t0=$(date +%s%N)
	taskset -c 1 wrk -t1 -c"$2" -d"$duration" --latency "${script[@]}" "http://127.0.0.1:$proxy_port/ok" > "$1"
	t1=$(date +%s%N)
	p1=$(proc_ticks "$PROXY_PID")
	echo "$p0 $p1 $t0 $t1 $(getconf CLK_TCK)" | awk '{
		printf "cpu: - - %.0f\n", 100*($2-$1)/$5 / (($4-$3)/1e9) }' >> "$1"
}

# Scenarios: name, connections, think|-, hog|-.
load_scenarios=(
	"1-conn 1 - -"
	"4-conns 4 - -"
	"16-conns 16 - -"
	"8-conns-think 8 think -"
	"32-conns-think 32 think -"
	"4-conns-hog 4 - hog"
	"50-conns-hog 50 - hog"
)

run_load() {
	rm -rf "$ldir"
	mkdir -p "$ldir/wrk"
	printf 'function delay()\n  return 1\nend\n' > "$ldir/think.lua"
	[ -f "$www/1m.bin" ] || head -c 1048576 /dev/urandom > "$www/1m.bin"
	start_backend
	local r sc name conns think hog p f hog_pid
	for r in $(seq "$rounds"); do
		for sc in "${load_scenarios[@]}"; do
			read -r name conns think hog <<<"$sc"
			for p in "${load_proxies[@]}"; do
				start_proxy "$p" tcp
				hog_pid=
				if [ "$hog" = hog ]; then
					taskset -c 0 sh -c 'while :; do :; done' &
					hog_pid=$!
					pids+=("$hog_pid")
				fi
				f=$ldir/wrk/r$r-$name-$p.txt
				load_wrk "$f" "$conns" "$think"
				[ -n "$hog_pid" ] && stop_pid "$hog_pid"
				stop_proxy
				printf 'round %d %-14s %-16s %7.0f req/s p99 %6.2f ms\n' "$r" "$name" "$p" \
					"$(wrk_field "$f" rps)" "$(wrk_field "$f" p99)" >&2
			done
		done
	done
	stop_pid "$BACKEND_PID"

	lmed() { for f in "$ldir"/wrk/r*-"$1"-"$2".txt; do wrk_field "$f" "$3"; done | median; }
	{
		echo "== proxy under other loads: one worker on CPU 0; backend nginx and wrk -t1 on CPU 1; $duration x $rounds rounds (median)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  nginx: $(nginx -v 2>&1 | sed 's/.*\///')  frontdoor: $($fd version | cut -d' ' -f2)"
		echo "think = 1 ms pause before each request; hog = a shell loop on CPU 0; nopoll = frontdoor --busy-poll 0"
		printf '%-16s %9s %9s %9s %8s | %7s %7s %7s | %7s %7s %7s\n' scenario "nginx" "fd" "fd nopoll" "fd/ngx" \
			"p99 ngx" "p99 fd" "nopoll" "us ngx" "us fd" "nopoll"
		for sc in "${load_scenarios[@]}"; do
			read -r name _ <<<"$sc"
			local rn rf ro
			rn=$(lmed "$name" nginx rps)
			rf=$(lmed "$name" frontdoor rps)
			ro=$(lmed "$name" frontdoor_nopoll rps)
			printf '%-16s %9.0f %9.0f %9.0f %8.2f | %7.2f %7.2f %7.2f | %7.1f %7.1f %7.1f\n' "$name" \
				"$rn" "$rf" "$ro" "$(awk -v a="$rf" -v b="$rn" 'BEGIN {print (b > 0) ? a/b : 0}')" \
				"$(lmed "$name" nginx p99)" "$(lmed "$name" frontdoor p99)" "$(lmed "$name" frontdoor_nopoll p99)" \
				"$(lmed "$name" nginx usreq)" "$(lmed "$name" frontdoor usreq)" "$(lmed "$name" frontdoor_nopoll usreq)"
		done
	} | tee "$out/load.txt"
}
