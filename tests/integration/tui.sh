#!/bin/bash
# tui: the real console (`hikyaku` with no arguments) in a private tmux
# server against the real daemon: every screen renders at 80x24 and at
# 200x60, resizing works, hold/release/retry/delete from the Queue screen
# change the daemon's queue, the Status screen notices the daemon stopping
# and starting (and a stopped one that does not answer), the help opens,
# Esc cancels a wait that never ends (a stopped daemon), the Log screen
# follows one queue ID, NO_COLOR still draws, and without a terminal
# `hikyaku` refuses cleanly.
. "$(dirname "$0")/lib.sh"

need_cmd tmux

hk_conf "pausetime = 1h"
hk_remotes "127.0.0.1 smtp --port=$HK_DEAD_PORT"
hk_start
wait_for 10 test -S "$T/spool/ctl.sock" || fail "no control socket"

# The first message has a folded (tab) header and long ones that wrap to
# more rows than the screen has.
long=$(printf 'word%s ' $(seq 1 60))
for i in 1 2 3; do
	{
		printf 'Subject: tui test %s\n' "$i"
		if [ "$i" = 1 ]; then
			printf 'X-Folded: first part\n\tfolded part\n'
			for j in 1 2 3 4 5 6; do
				printf 'X-Long-%s: %s\n' "$j" "$long"
			done
		fi
		printf '\nhello\nthe last line\n'
	} | hk_sendmail -f "alice$i@example.org" "bob$i@example.net" ||
		fail "sendmail failed"
done
wait_for 30 eval '[ "$(hk_queue_count)" = 3 ]' || fail "messages not queued"
wait_for 30 eval '[ "$(hk_cli queue list | grep -c deferred)" = 3 ]' ||
	fail "messages not deferred: $(hk_cli queue list)"
QIDS=($(hk_cli queue list | awk '{print $1}'))
Q1=${QIDS[0]}

# --- no terminal: refuse, point to the subcommands ---
out=$("$top_builddir/hikyaku" -C "$T/conf" </dev/null 2>&1)
rc=$?
assert_eq 2 "$rc" "exit status without a terminal"
assert_match 'needs a terminal.*hikyaku queue list' "$out" "refusal"
# A terminal of a kind terminfo does not know: the same refusal, not
# curses' own exit.
tmux_start 80 24 \
	"env TERM=bogus-term '$top_builddir/hikyaku' -C '$T/conf' >'$T/log/bogus.out' 2>&1; echo \$? >'$T/bogus.rc'; sleep 60" ||
	fail "tmux did not start for TERM=bogus-term"
wait_for 20 test -s "$T/bogus.rc" || fail "TERM=bogus-term: hikyaku did not end"
assert_eq 2 "$(cat "$T/bogus.rc")" "exit status with TERM=bogus-term"
assert_grep 'needs a terminal.*hikyaku queue list' "$T/log/bogus.out" \
	"TERM=bogus-term refusal"
assert_no_grep 'Error opening terminal|Sanitizer' "$T/log/bogus.out" \
	"TERM=bogus-term refusal"

# --- the console in a private tmux server ---
tmux_start 80 24 \
	"exec env TERM=tmux-256color LANG=C.UTF-8 HIKYAKU_HELP_DIR='$top_srcdir/help' '$top_builddir/hikyaku' -C '$T/conf' 2>'$T/log/tui.stderr'" ||
	fail "tmux did not start"

# gone REGEX [SECONDS]: wait until the screen no longer shows it.
gone() {
	local n=0 limit=$(( ${2:-10} * 10 ))
	while screen | grep -Eq -- "$1"; do
		n=$((n + 1))
		if [ $n -ge $limit ]; then
			screen >&2
			fail "the screen still shows /$1/"
		fi
		sleep 0.1
	done
}
size_is() { # COLS ROWS
	local got
	got=$("${TM[@]}" display-message -p -t hk '#{pane_width}x#{pane_height}')
	[ "$got" = "$1x$2" ]
}
lines() { screen | wc -l; }
qstate() { # QID: its state from the daemon
	hk_cli queue list --json | "$PY" -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if m["qid"] == sys.argv[1]:
        print(m["state"])' "$1"
}

# Every screen at one size.
check_screens() { # COLS ROWS
	keys 1
	see 'hikyakud .* is running'
	see "127\.0\.0\.1:$HK_PORT relay"
	see 'Remotes'
	see 'daemon up'
	see '1 Status +2 Queue .*0 Log'
	see '\? help'
	keys 2
	see 'Queue: 3 messages'
	see "^$Q1 "
	# The list's footer fits, framework keys included.
	see 'r retry +h hold'
	see 'R reload'
	see 'n/N next'
	see '\? help +q quit'
	# The message view, its footer with scrolling and F flush.
	keys g Enter
	see "Message $Q1"
	see 'g/G top/end'
	see 'F flush +L log +q back'
	keys q
	see 'Queue: 3 messages'
	keys 8
	see '/remote N'
	see 'F1 help'
	keys F2
	see 'Queue: 3 messages'
	keys 0
	see 'Log: [0-9]+ line'
	# The lines the daemon logged before the console started come first.
	see 'g/G oldest/follow'
	keys g
	see 'started: hikyaku'
	keys G
	see '\(following\)'
	keys F1
	see 'Help: console-log'
	keys q
	see 'Log: [0-9]+ line'
	keys Tab
	see 'hikyakud .* is running'
	[ "$(lines)" = "$2" ] || fail "capture is $(lines) lines, not $2"
}

see 'hikyakud .* is running'
size_is 80 24 || fail "the pane is not 80x24"
check_screens 80 24

# --- resize ---
"${TM[@]}" resize-window -t hk -x 200 -y 60 || fail "resize failed"
wait_for 10 size_is 200 60 || fail "the pane did not become 200x60"
check_screens 200 60
# At 200 columns the last error shows in the queue list.
keys 2
see "^$Q1 .*deferred .*alice1@example.org .*bob1@example.net .*(refused|connect)"
"${TM[@]}" resize-window -t hk -x 80 -y 24
wait_for 10 size_is 80 24 || fail "the pane did not shrink"
see 'Queue: 3 messages'

# --- help opens with ? ---
keys '?'
see 'Help: console-queue'
see 'Enter.*open the message'
# Long help lines wrap instead of losing their end at 80 columns.
see 'start of the body'
keys Escape
see 'Queue: 3 messages'

# --- open a message ---
keys g Enter
see "Message $Q1"
see 'bob1@example.net.*deferred'
see 'Subject: tui test 1'
# A tab goes to the next 8-column stop, not '?'.
see '^        folded part'
gone '\?folded part'
# G reaches the end although the lines wrap; g goes back to the top.
keys G
see 'the last line'
see "Message $Q1"
keys g
see 'Subject: tui test 1'
keys q
see 'Queue: 3 messages'

# --- actions change the daemon's queue ---
keys g h
wait_for 10 eval '[ "$(qstate "$Q1")" = held ]' || fail "h did not hold $Q1"
see "^$Q1 .* held"
keys l
wait_for 10 eval '[ "$(qstate "$Q1")" = deferred ]' || fail "l did not release $Q1"
keys r
wait_for 10 grep -q "$Q1: retry requested" "$T/log/hikyaku.log" ||
	fail "r did not retry $Q1"
# Several at once: select two, hold both.
keys g Space Space h
wait_for 10 eval '[ "$(qstate "${QIDS[0]}")" = held ] && [ "$(qstate "${QIDS[1]}")" = held ]' ||
	fail "Space Space h did not hold two messages"
keys g d
see 'Delete message'
keys n
see 'Queue: 3 messages'
keys d
see 'Delete message'
keys y
wait_for 10 eval '[ "$(hk_queue_count)" = 2 ]' || fail "d y did not delete"
see 'Queue: 2 messages'
Q2=${QIDS[1]}

# --- Esc cancels a wait that never ends: the daemon is stopped ---
kill -STOP "$HK_DAEMON_PID"
keys g Enter
see "loading $Q2.*Esc cancels"
keys Escape
see "cancelled: loading $Q2"
# The Status screen's own request goes unanswered too, and it says so.
keys 1
see 'hikyakud is NOT answering' 15
kill -CONT "$HK_DAEMON_PID"
gone 'NOT answering' 10
keys 2

# --- the log screen follows one queue ID ---
keys g L
see "Log: .*filter: $Q2"
see "following $Q2"
# Its arrival, logged before the console started, is there too.
see "$Q2: from=<alice2@example.org>"
# Esc drops the filter, and the message about it.
keys Escape
see 'Log: [0-9]+ lines? +\(following\)'
gone "following $Q2"
# Long log lines wrap under the text, past time and level.
see '^ {17}[^ ]'
# While the filter prompt has the keys, the footer says what works there.
keys '\'
see '^filter:'
see 'F1 help +F2-F10/Alt\+digit screens'
if screen | tail -2 | grep -Eq 'q quit|\? help|Tab screens'; then
	screen >&2
	fail "the footer offers keys the filter prompt takes"
fi
keys Escape
see 'q quit'
# No such screen: said once, gone at the next key.
keys 9
see 'no screen 9 yet'
keys 1
gone 'no screen 9 yet'
# The Tester's input line has the keys too.
keys 8
see 'F1 help'
see 'F2-F10/Alt\+digit screens'
gone '\? help'
keys F2
# The cursor is on the second message when the daemon goes down.
keys g j 1

# --- the status screen notices the daemon stopping and starting ---
see 'hikyakud .* is running'
hk_stop || fail "the daemon did not stop cleanly"
see 'hikyakud is NOT running' 15
see 'daemon DOWN'
keys 2
see 'spool, read-only' 15
# Read from the spool, the list keeps the cursor on the same message.
keys L
see "Log: .*filter: ${QIDS[2]}"
keys Escape 2
see 'spool, read-only'
keys r
see 'daemon is down: the queue is read-only'
hk_start
see 'daemon up' 15
# The daemon is back: what was said about it being down goes.
gone 'the queue is read-only' 5
keys 1
see 'hikyakud .* is running' 15
keys 2
gone 'spool, read-only' 15
see 'Queue: 2 messages'

# --- search, sort, filter + select all, bounce, flush ---
# Two more messages to another domain; the second is the biggest.
big=$(printf '%0200d\n' $(seq 1 20))
for i in 1 2; do
	{
		printf 'Subject: filtered %s\n\nhello\n' "$i"
		[ "$i" = 2 ] && printf '%s\n' "$big"
	} | hk_sendmail -f "carol$i@example.org" "dave$i@filter.example" ||
		fail "sendmail failed"
done
wait_for 30 eval '[ "$(hk_queue_count)" = 4 ]' || fail "messages not queued"
see 'Queue: 4 messages'
qids_to() { # DOMAIN: the queue IDs of messages to it, by arrival
	hk_cli queue list --json | "$PY" -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    if any(r["addr"].endswith(sys.argv[1]) for r in m["recipients"]):
        print(m["qid"])' "$1" | sort
}
DIDS=($(qids_to @filter.example))
[ ${#DIDS[@]} = 2 ] || fail "want 2 messages to filter.example: ${DIDS[*]}"
# `/` finds the first match after the cursor, n the next; L shows which.
keys g / 'filter.example' Enter L
see "Log: .*filter: ${DIDS[0]}"
keys Escape 2 n L
see "Log: .*filter: ${DIDS[1]}"
keys Escape 2
# s sorts by size: the last row is the biggest message; S reverses.
keys s
see 'sorted by size'
keys G L
see "Log: .*filter: ${DIDS[1]}"
keys Escape 2 S g L
see "Log: .*filter: ${DIDS[1]}"
keys Escape 2
# Filter by the domain, select all shown, hold: exactly those two.
keys '\' C-u 'filter.example' Enter
see 'filter: filter\.example'
see '2 shown, 0 selected'
keys '*'
see '2 shown, 2 selected'
see 'Esc unselect'
[ "$(qstate "${QIDS[2]}")" != held ] || fail "${QIDS[2]} is held already"
keys h
wait_for 10 eval '[ "$(qstate "${DIDS[0]}")" = held ] && [ "$(qstate "${DIDS[1]}")" = held ]' ||
	fail "filter + * + h did not hold the two messages"
[ "$(qstate "${QIDS[2]}")" != held ] || fail "filter + * + h held ${QIDS[2]} too"
# Bounce asks with the count; n keeps them, y bounces both.
keys '*' b
see 'Bounce now 2 messages\?'
keys n
gone 'Bounce now'
[ "$(qstate "${DIDS[0]}")" = held ] || fail "n bounced anyway"
keys b
see 'Bounce now 2 messages\?'
keys y
wait_for 10 eval '[ -z "$(qstate "${DIDS[0]}")" ] && [ -z "$(qstate "${DIDS[1]}")" ]' ||
	fail "b y did not bounce the two messages"
[ -n "$(qstate "$Q2")" ] || fail "b y bounced $Q2 too"
# Delete asks with the count of what is selected (all shown, no filter).
keys '\' C-u Enter
gone 'filter: filter'
keys '*'
n=$(hk_queue_count)
keys d
see "Delete $n messages\?"
keys n Escape
see 'Enter open'
[ "$(hk_queue_count)" = "$n" ] || fail "d n deleted"
# F flushes the whole queue.
keys F
wait_for 10 grep -q 'queue flush requested' "$T/log/hikyaku.log" ||
	fail "F did not flush"

# --- colours: escape codes with them, none with NO_COLOR ---
# capture-pane -e keeps the attributes; a colour is SGR 30-38, 40-48,
# 90-97 or 100-107 (39 and 49, the default colours, tmux writes anyway).
colours() {
	"${TM[@]}" capture-pane -e -p -t hk | "$PY" -c '
import re, sys
n = 0
for m in re.finditer(r"\x1b\[([0-9;:]*)m", sys.stdin.read()):
    for p in re.split("[;:]", m.group(1)):
        if p and int(p) in set(range(30, 39)) | set(range(40, 49)) | \
                set(range(90, 98)) | set(range(100, 108)):
            n += 1
print(n)'
}
keys 1
see 'hikyakud .* is running'
[ "$(colours)" -gt 0 ] || fail "no colour escape codes without NO_COLOR"
keys q
wait_for 10 eval '! "${TM[@]}" has-session -t hk' || fail "q did not quit"
tmux_start 80 24 \
	"exec env NO_COLOR=1 TERM=tmux-256color LANG=C.UTF-8 '$top_builddir/hikyaku' -C '$T/conf' 2>>'$T/log/tui.stderr'" ||
	fail "tmux did not start again"
see 'hikyakud .* is running'
see 'daemon up'
[ "$(colours)" = 0 ] || fail "NO_COLOR: colour escape codes on the screen"
keys 2
see 'Queue: [0-9]+ messages'
[ "$(colours)" = 0 ] || fail "NO_COLOR: colour escape codes on the Queue screen"
keys q
wait_for 10 eval '! "${TM[@]}" has-session -t hk' || fail "q did not quit"
if grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$T/log/tui.stderr" \
	$T/log/sanitizer* 2>/dev/null; then
	cat "$T/log/tui.stderr" >&2
	fail "the console reported a sanitizer error"
fi
exit 0
