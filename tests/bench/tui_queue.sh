#!/bin/bash
# tui_queue.sh: the Queue screen with a big queue (issue 5: it opens in
# under a second and every keystroke redraws in under 50 ms).
#
#   top_builddir=BUILD tests/bench/tui_queue.sh        # N=100000
#   N=20000 top_builddir=BUILD tests/bench/tui_queue.sh
#
# It fills a sandbox spool with N deferred messages (fill_queue.py), starts
# the real hikyakud on it, runs the real console in a private tmux server
# at 80x24 and measures:
#   open:  from pressing `2` to the screen showing "Queue: N messages"
#          with the snapshot fully read (first rows appear earlier);
#   keys:  keystroke to doupdate() for each key, as the console itself
#          records it when HIKYAKU_TUI_BENCH names a file (microseconds
#          from reading the key to the end of the redraw it caused):
#          j/k moves, PgDn/PgUp, G/g, a search and a filter.
# Benchmarks run on demand, never inside ./check.
. "$(dirname "$0")/../integration/lib.sh"

need_cmd tmux
N=${N:-100000}
HK_TIMEOUT=${HK_TIMEOUT:-600}

hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
mkdir -p "$T/spool"
"$PY" "$(dirname "$0")/fill_queue.py" "$T/spool" "$N" --held 5 >&2 ||
	fail "fill_queue.py failed"
[ $HK_ROOT = 1 ] && chown -R "$HK_USER" "$T/spool"
HK_START_TIMEOUT=1200 hk_start
count() {
	hk_cli status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queue"]["messages"])'
}
wait_for 120 eval '[ "$(count)" = "$N" ]' || fail "the daemon did not recover $N messages ($(count))"

tmux_start 80 24 \
	"exec env TERM=tmux-256color LANG=C.UTF-8 HIKYAKU_TUI_BENCH='$T/keys.us' '$top_builddir/hikyaku' -C '$T/conf' 2>'$T/log/tui.stderr'" ||
	fail "tmux did not start"
ms() { date +%s%3N; }
see() { # REGEX SECONDS
	local end=$(( $(ms) + ${2:-30} * 1000 ))
	until screen | grep -Eq -- "$1"; do
		[ "$(ms)" -gt "$end" ] && { screen >&2; fail "never saw /$1/"; }
		sleep 0.01
	done
}
see 'hikyakud .* is running' 30
# The console subscribed at start; wait for it to be idle, then reopen
# the queue from scratch (R) so the whole load is measured.
"${TM[@]}" send-keys -t hk 2
see "Queue: $N messages( |$)" 60
# R drops the list and subscribes again: the whole load, timed by the
# console's own marks (first page and subscribe sent, first page shown,
# snapshot line received, all rows in the list).
: >"$T/keys.us"
"${TM[@]}" send-keys -t hk R
end=$(( $(ms) + 60000 ))
until grep -q '^#loaded' "$T/keys.us"; do
	[ "$(ms)" -gt "$end" ] && fail "the queue never finished loading"
	sleep 0.01
done
see "Queue: $N messages( |$)" 60
grep '^#' "$T/keys.us" >"$T/marks"
: >"$T/keys.us"
press() { # KEY: one key, wait for its redraw to be recorded
	local before after end
	before=$(wc -l <"$T/keys.us")
	"${TM[@]}" send-keys -t hk "$1"
	end=$(( $(ms) + 5000 ))
	while :; do
		after=$(wc -l <"$T/keys.us")
		[ "$after" -gt "$before" ] && return
		[ "$(ms)" -gt "$end" ] && fail "no redraw after key $1"
		sleep 0.005
	done
}
for i in $(seq 100); do press j; done
for i in $(seq 30); do press k; done
for i in $(seq 20); do press NPage; done
for i in $(seq 10); do press PPage; done
press G; press g; press G; press g
press /; for c in s e n d e r 4 2 4 2; do press "$c"; done; press Enter
press n; press n
press '\'; for c in h e l d; do press "$c"; done; press Enter
for i in $(seq 20); do press j; done
press '\'; press C-u; press Enter
press s; press s; press S
"${TM[@]}" send-keys -t hk q

"$PY" - "$T/keys.us" "$N" "$T/marks" <<'PYEOF'
import sys
v = sorted(int(x) / 1000.0 for x in open(sys.argv[1])
           if x.strip() and not x.startswith("#"))
n = sys.argv[2]
marks = {}
for line in open(sys.argv[3]):
    k, us = line[1:].split()
    marks.setdefault(k, int(us))
t0 = marks["subscribe"]
first = (min(marks.get("first-page", marks["loaded"]),
            marks.get("first-rows", marks["loaded"])) - t0) // 1000
full = (marks["loaded"] - t0) // 1000
snap = (marks["snapshot"] - t0) // 1000
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print("==== tui_queue: %s messages, 80x24 ====" % n)
print("open: snapshot received after %d ms, first rows after %d ms, "
      "whole queue after %d ms" % (snap, first, full))
print("keystroke -> doupdate over %d keys: min %.2f ms, median %.2f ms, "
      "p95 %.2f ms, max %.2f ms" % (len(v), v[0], p(0.5), p(0.95), v[-1]))
ok = int(full) < 1000 and v[-1] < 50
print("targets (open < 1000 ms, every key < 50 ms): %s" % ("met" if ok else "NOT met"))
PYEOF
