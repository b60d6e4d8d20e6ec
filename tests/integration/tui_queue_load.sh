#!/bin/bash
# tui_queue_load: the Queue screen reads a big subscribe snapshot while it
# arrives. 30,000 queued messages make a snapshot line of about 11 MB,
# more than the console reads in one turn (4 MiB), so rows must be made
# from its start before its end has come (the console's own marks say
# so), and every message must still be in the list once, with the right
# state: the count, the first and the last queue ID, the held ones under
# a filter, and the same again after R reloads.
. "$(dirname "$0")/lib.sh"

need_cmd tmux
N=30000

hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
mkdir -p "$T/spool"
"$PY" "$top_srcdir/tests/bench/fill_queue.py" "$T/spool" "$N" --held 5 \
	>/dev/null || fail "fill_queue.py failed"
[ $HK_ROOT = 1 ] && chown -R "$HK_USER" "$T/spool"
HK_START_TIMEOUT=120 hk_start
count() {
	hk_cli status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queue"]["messages"])'
}
wait_for 120 eval '[ "$(count)" = "$N" ]' ||
	fail "the daemon did not recover $N messages ($(count))"
hk_cli queue list >"$T/list" || fail "queue list failed (exit $?)"
[ "$(wc -l <"$T/list")" -eq "$N" ] ||
	fail "queue list gave $(wc -l <"$T/list") lines, not $N"
held=$(grep -c '  held: ' "$T/list")
[ "$held" -gt 0 ] || fail "no held message in the queue list"
first=$(ls "$T/spool/queue" | sed -n 's/\.env$//p' | sort | head -1)
last=$(ls "$T/spool/queue" | sed -n 's/\.env$//p' | sort | tail -1)

tmux_start 80 24 \
	"exec env TERM=tmux-256color LANG=C.UTF-8 HIKYAKU_TUI_BENCH='$T/marks' '$top_builddir/hikyaku' -C '$T/conf' 2>'$T/log/tui.stderr'" ||
	fail "tmux did not start"
see 'hikyakud .* is running' 30
keys 2
# Loaded: the whole count, and no "(loading...)" after it.
see "^Queue: $N messages *$" 120
grep -q '^#snapshot' "$T/marks" || fail "no snapshot mark: $(cat "$T/marks")"
# Rows were made while the snapshot was still arriving.
order=$(grep -E '^#(first-rows|snapshot) ' "$T/marks" | head -1)
assert_match '^#first-rows ' "$order" "the first mark of the load"

keys G
see "^$last " 10
keys g
see "^$first " 10
keys '\' h e l d Enter
see "^Queue: $N messages +filter: held +$held shown, 0 selected" 20

# R: the list dropped and read again, whole.
: >"$T/marks"
keys '\' C-u Enter
see "^Queue: $N messages *$" 20
keys R
see "^Queue: $N messages *$" 120
wait_for 30 grep -q '^#loaded' "$T/marks" || fail "R: the load never ended"
keys G
see "^$last " 10
keys q
wait_for 20 eval '! "${TM[@]}" has-session -t hk' || fail "q did not quit"
assert_no_grep 'Sanitizer|runtime error' "$T/log/tui.stderr" "console stderr"
hk_stop || fail "the daemon did not stop cleanly"
hk_check_sanitizer || fail "the daemon reported a sanitizer error"
exit 0
