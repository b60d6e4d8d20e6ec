# tests/integration/lib.sh: sourced by every integration test.
#
#   . "$(dirname "$0")/lib.sh"
#
# It gives the test a sandbox ($T, removed on exit), runs it inside a
# private network namespace when root (DESIGN section 12: no packet, DNS
# included, leaves the machine), and offers:
#
#   hk_port                      a free loopback TCP port
#   hk_conf [KEY = VALUE]...     (re)write $T/conf/hikyaku.conf: listen on
#                                127.0.0.1:$HK_PORT relay, spool, log, user,
#                                resolver to a dead port; extra lines appended
#   hk_remotes LINE...           write $T/conf/remotes (nullmailer format)
#   hk_start [ARGS]              start hikyakud -f -C $T/conf (HK_DEBUG=1: -d),
#                                wait for the port
#   hk_stop                      SIGTERM, bounded wait, sanitizer check of logs
#   hk_kill                      SIGKILL (crash tests), no checks
#   hk_cli ARGS                  hikyaku -C $T/conf ARGS
#   hk_sendmail ARGS             hikyaku-sendmail with HIKYAKU_CONFIG_DIR
#   hk_queue_count               messages in the queue (via the CLI, --json)
#   upstream_start NAME [OPTS]   tests/integration/upstream.py on a free port
#                                (NAME: letters, digits, _)
#                                (or $HK_UP_PORT); sets UP_PORT_NAME, UP_PID_NAME,
#                                maildir $T/up-NAME, log $T/log/upstream-NAME.log
#   upstream_stop NAME
#   upstream_count NAME          messages NAME has received
#   wait_for SECONDS CMD...      poll CMD every 0.1 s until it succeeds
#   assert_eq/assert_match/assert_grep/fail/skip/need_root/need_cmd
#   hk_swaks ARGS                swaks against the daemon, bounded
#   hk_bg CMD...                 run CMD in background, killed at exit
#   tmux_start COLS ROWS CMD     CMD in a private tmux server; then
#   screen / keys / see REGEX    read, type into, wait for its pane
#
# Every process started here is killed by PID in the EXIT trap and writes
# to files in $T, never to the test's stdout. Set HK_KEEP=1 to keep $T.

# automake may run us with /bin/sh (dash): continue in bash.  These first
# lines must stay POSIX.
if [ -z "${BASH_VERSION:-}" ]; then
	exec /bin/bash "$0" "$@"
fi

set -u
HK_TEST=$(basename "$0" .sh)
HK_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$HK_LIBDIR/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
PY=/usr/bin/python3
export LANG=C.UTF-8 LC_ALL=C.UTF-8

# Private network namespace when root: re-run this very test inside it.
if [ "$(id -u)" = 0 ] && [ -z "${HK_NETNS:-}" ] && [ "${HK_NO_NETNS:-0}" != 1 ] &&
	unshare -n true 2>/dev/null; then
	export HK_NETNS=1 top_srcdir top_builddir
	exec unshare -n -- /bin/bash "$0" "$@"
fi
if [ "${HK_NETNS:-}" = 1 ]; then
	ip link set lo up || { echo "$HK_TEST: cannot bring lo up in the namespace" >&2; exit 99; }
fi

HK_ROOT=0
[ "$(id -u)" = 0 ] && HK_ROOT=1
if [ $HK_ROOT = 1 ]; then
	# The daemon refuses to stay root; nobody also makes file modes matter.
	HK_USER=nobody
else
	HK_USER=$(id -un)
fi

T=$(mktemp -d "/tmp/hk-$HK_TEST.XXXXXX") || exit 99
chmod 755 "$T"
mkdir -p "$T/conf" "$T/log"
[ $HK_ROOT = 1 ] && chown "$HK_USER" "$T/log"
HK_PIDS=()
HK_MOUNTS=()
HK_TMUX=()
HK_PORTS=" "
HK_DAEMON_PID=
HK_FAILED=0

# Sanitizer reports go to files of their own, because the daemon puts
# /dev/null on fds 0-2 (DESIGN section 12); hk_stop reads them.
: "${ASAN_OPTIONS:=detect_leaks=1:halt_on_error=1:abort_on_error=0}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
: "${LSAN_OPTIONS:=suppressions=$top_srcdir/tests/lsan.supp:print_suppressions=0}"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/log/sanitizer"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$T/log/sanitizer"
export LSAN_OPTIONS

hk_log() { printf '%s: %s\n' "$HK_TEST" "$*" >&2; }

# Dump what helps a reader of the failed test's log.
hk_dump_logs() {
	local f
	for f in "$T"/log/* "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
}

hk_cleanup() {
	local rc=$? p i m
	trap - EXIT
	[ -n "${HK_WATCHDOG:-}" ] && kill "$HK_WATCHDOG" 2>/dev/null
	if [ -e "$T/.timeout" ]; then
		hk_log "FAIL: timed out after ${HK_TIMEOUT}s"
		rc=1
	fi
	if [ -n "$HK_DAEMON_PID" ] && kill -0 "$HK_DAEMON_PID" 2>/dev/null; then
		hk_stop || rc=1
	fi
	for p in "${HK_TMUX[@]}"; do
		tmux -L "$p" kill-server 2>/dev/null
	done
	for p in "${HK_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${HK_PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	[ "$HK_FAILED" = 1 ] && [ "$rc" = 0 ] && rc=1
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		hk_dump_logs
		# Again after the dumps, where a log's tail shows it.
		[ -n "${HK_FAIL_WHY:-}" ] && hk_log "FAIL: $HK_FAIL_WHY"
	fi
	for m in "${HK_MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if [ "${HK_KEEP:-0}" = 1 ]; then
		hk_log "sandbox kept: $T"
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap hk_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Watchdog: a test that hangs fails instead of holding `make check`.
HK_TIMEOUT=${HK_TIMEOUT:-300}
(
	i=0
	while [ $i -lt "$HK_TIMEOUT" ]; do
		sleep 1
		kill -0 $$ 2>/dev/null || exit 0
		i=$((i + 1))
	done
	: >"$T/.timeout"
	kill -TERM $$
) </dev/null >/dev/null 2>&1 &
HK_WATCHDOG=$!

fail() {
	HK_FAIL_WHY="$*"
	hk_log "FAIL: $*"
	exit 1
}

skip() {
	hk_log "SKIP: $*"
	exit 77
}

need_root() {
	[ $HK_ROOT = 1 ] || skip "needs root${1:+ ($1)}"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
	done
}

assert_eq() { # WANT GOT WHAT
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

assert_match() { # REGEX STRING WHAT
	[[ $2 =~ $1 ]] || fail "${3:-value} does not match /$1/: '$2'"
}

assert_grep() { # REGEX FILE [WHAT]
	grep -Eq -- "$1" "$2" || fail "${3:-$2} has no line matching /$1/"
}

assert_no_grep() { # REGEX FILE [WHAT]
	if grep -Eq -- "$1" "$2"; then
		fail "${3:-$2} has a line matching /$1/: $(grep -Em1 -- "$1" "$2")"
	fi
}

# tmux_start COLS ROWS COMMAND: COMMAND in session "hk" of a tmux server
# of its own, which TM then names. Every call takes a fresh socket: a
# server whose last session just ended may still be exiting, and a
# new-session that reaches it fails with "server exited unexpectedly".
tmux_start() {
	TM=(tmux -L "hk$$-${#HK_TMUX[@]}" -f /dev/null)
	HK_TMUX+=("hk$$-${#HK_TMUX[@]}")
	"${TM[@]}" new-session -d -s hk -x "$1" -y "$2" "$3" || return 1
	# Detached sessions keep the size resize-window gives them.
	"${TM[@]}" set-option -g window-size manual >/dev/null
	HK_PIDS+=("$("${TM[@]}" display-message -p -t hk '#{pid}')")
}

# The pane of the last tmux_start: screen prints it, keys types into it,
# see REGEX [SECONDS] waits until it shows REGEX (fails with the screen).
screen() { "${TM[@]}" capture-pane -p -t hk 2>/dev/null; }
keys() { "${TM[@]}" send-keys -t hk "$@"; }
see() {
	local n=0 limit=$(( ${2:-10} * 10 ))
	while ! screen | grep -Eq -- "$1"; do
		n=$((n + 1))
		if [ $n -ge $limit ]; then
			hk_log "screen now:"
			screen >&2
			fail "the screen never showed /$1/"
		fi
		sleep 0.1
	done
}

# wait_for SECONDS CMD [ARGS...]: poll until CMD succeeds; 1 on timeout.
wait_for() {
	local limit=$1 n=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ $n -ge $((limit * 10)) ] && {
			hk_log "wait_for: gave up after ${limit}s: $*"
			return 1
		}
		sleep 0.1
	done
}

# hk_bg NAME CMD...: background process with output to $T/NAME.log,
# killed at exit; its PID in $HK_BG_PID.
hk_bg() {
	local name=$1
	shift
	"$@" </dev/null >"$T/$name.log" 2>&1 &
	HK_BG_PID=$!
	HK_PIDS+=("$HK_BG_PID")
}

hk_port_listening() { # PORT [ADDR]
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# A loopback TCP port nobody listens on, not handed out before in this test.
hk_port() {
	local p
	while :; do
		p=$($PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		case $HK_PORTS in *" $p "*) continue ;; esac
		HK_PORTS="$HK_PORTS$p "
		echo "$p"
		return
	done
}

HK_PORT=$(hk_port)
HK_DEAD_PORT=$(hk_port)		# nothing listens here: DNS goes nowhere

# hk_conf [LINE...]: write hikyaku.conf; each argument is one extra line.
hk_conf() {
	{
		echo "# written by $HK_TEST (tests/integration/lib.sh)"
		echo "me = relay.test"
		echo "listen = 127.0.0.1:$HK_PORT relay"
		echo "spool = $T/spool"
		echo "log = $T/log/hikyaku.log"
		echo "user = $HK_USER"
		echo "resolver = 127.0.0.1:$HK_DEAD_PORT"
		printf '%s\n' "$@"
	} >"$T/conf/hikyaku.conf"
	chmod 644 "$T/conf/hikyaku.conf"
}

# hk_remotes LINE...: the remotes file, one argument per line.
hk_remotes() {
	printf '%s\n' "$@" >"$T/conf/remotes"
	# Root runs the daemon as nobody: it must read the file (and warns
	# about the password in it, which is what a sysadmin should see too).
	chmod 644 "$T/conf/remotes"
}

# Daemon log, sanitizer reports and stderr: any sanitizer finding fails.
hk_check_sanitizer() {
	local f bad=0
	for f in "$T"/log/hikyaku.log "$T"/log/sanitizer* "$T"/log/hikyakud.stderr*; do
		[ -f "$f" ] || continue
		if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$f"; then
			hk_log "sanitizer report in $f:"
			cat "$f" >&2
			bad=1
		fi
	done
	return $bad
}

# hk_start [ARGS...]: start the daemon in the foreground (-f) in the
# background and wait until its SMTP port listens.
hk_start() {
	[ -f "$T/conf/hikyaku.conf" ] || hk_conf
	[ -f "$T/conf/remotes" ] || hk_remotes "# none"
	[ -x "$top_builddir/hikyakud" ] || fail "no $top_builddir/hikyakud (not built?)"
	HK_STARTS=$(( ${HK_STARTS:-0} + 1 ))
	# Without -d the daemon logs to `log = FILE`, which the tests read;
	# HK_DEBUG=1 adds -d (debug lines on stderr, kept in $T/log).
	${HK_WRAP:-} "$top_builddir/hikyakud" -f ${HK_DEBUG:+-d} -C "$T/conf" "$@" \
		</dev/null >"$T/log/hikyakud.stdout.$HK_STARTS" \
		2>"$T/log/hikyakud.stderr.$HK_STARTS" &
	HK_DAEMON_PID=$!
	HK_PIDS+=("$HK_DAEMON_PID")
	local n=0
	while ! hk_port_listening "$HK_PORT"; do
		if ! kill -0 "$HK_DAEMON_PID" 2>/dev/null; then
			wait "$HK_DAEMON_PID"
			fail "hikyakud exited ($?) before listening on $HK_PORT"
		fi
		n=$((n + 1))
		[ $n -ge "${HK_START_TIMEOUT:-200}" ] &&
			fail "hikyakud did not listen on 127.0.0.1:$HK_PORT in time"
		sleep 0.1
	done
}

# hk_stop: SIGTERM, wait (bounded), then check the logs for sanitizers.
hk_stop() {
	local pid=$HK_DAEMON_PID rc n=0 real
	[ -n "$pid" ] || return 0
	HK_DAEMON_PID=
	real=$pid
	# Under HK_WRAP (strace) the daemon is the wrapper's child.
	[ -n "${HK_WRAP:-}" ] && real=$(pgrep -o -P "$pid" 2>/dev/null || echo "$pid")
	kill -TERM "$real" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 150 ]; then
			kill -KILL "$pid" 2>/dev/null
			hk_log "FAIL: hikyakud did not stop within 15 s of SIGTERM"
			HK_FAILED=1
			break
		fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	rc=$?
	if ! hk_check_sanitizer; then
		HK_FAILED=1
		return 1
	fi
	case $rc in
	0 | 143) ;;
	*)
		hk_log "FAIL: hikyakud exited with status $rc after SIGTERM"
		HK_FAILED=1
		return 1
		;;
	esac
}

# hk_kill: SIGKILL, as a crash.
hk_kill() {
	local pid=$HK_DAEMON_PID
	HK_DAEMON_PID=
	[ -n "${HK_WRAP:-}" ] && kill -KILL $(pgrep -P "$pid") 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

hk_cli() {
	timeout 30 "$top_builddir/hikyaku" -C "$T/conf" "$@" </dev/null
}

hk_sendmail() {
	HIKYAKU_CONFIG_DIR=$T/conf timeout 30 "$top_builddir/hikyaku-sendmail" "$@"
}

# Messages in the queue, from the CLI's JSON Lines.
hk_queue_count() {
	local out
	out=$(hk_cli queue list --json) || return 1
	printf '%s\n' "$out" | grep -c '"qid"'
}

hk_queue_empty() {
	[ "$(hk_queue_count)" = 0 ]
}

# Recipient fields of the first queued message, as NAME=VALUE lines:
# qid, state, attempts, next_try, last_error (of its first recipient).
hk_queue_first() {
	hk_cli queue list --json | $PY -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    r = (m.get("recipients") or [{}])[0]
    print("qid=%s" % m.get("qid", ""))
    print("state=%s" % r.get("state", m.get("state", "")))
    print("attempts=%s" % r.get("attempts", ""))
    print("next_try=%s" % r.get("next_try", ""))
    print("last_error=%s" % (r.get("last_error") or "").replace("\n", " "))
    break
'
}

# swaks against the daemon; extra ARGS follow.
hk_swaks() {
	timeout 60 swaks --server 127.0.0.1 --port "$HK_PORT" --timeout 30 \
		--helo client.test "$@" </dev/null
}

# upstream_start NAME [upstream.py options]: a test upstream on a free port.
upstream_start() {
	local name=$1 port=${HK_UP_PORT:-}
	shift
	[ -n "$port" ] || port=$(hk_port)
	mkdir -p "$T/up-$name"
	[ -f "$T/log/upstream-$name.log" ] &&
		mv "$T/log/upstream-$name.log" "$T/log/upstream-$name.log.old"
	"$PY" "$HK_LIBDIR/upstream.py" --port "$port" --maildir "$T/up-$name" \
		--log "$T/log/upstream-$name.log" --pidfile "$T/upstream-$name.pid" "$@" \
		</dev/null >"$T/log/upstream-$name.stderr" 2>&1 &
	HK_PIDS+=("$!")
	printf -v "UP_PORT_$name" '%s' "$port"
	printf -v "UP_PID_$name" '%s' "$!"
	wait_for 20 grep -q "ready port=$port" "$T/log/upstream-$name.log" ||
		fail "upstream $name did not start: $(cat "$T/log/upstream-$name.stderr")"
}

upstream_stop() {
	local pid_var="UP_PID_$1" n=0
	kill -TERM "${!pid_var}" 2>/dev/null
	while kill -0 "${!pid_var}" 2>/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -KILL "${!pid_var}" 2>/dev/null
	wait "${!pid_var}" 2>/dev/null
	return 0
}

upstream_count() {
	local n=0 f
	for f in "$T/up-$1"/*.eml; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo $n
}

upstream_has() { # NAME COUNT: at least COUNT messages arrived
	[ "$(upstream_count "$1")" -ge "$2" ]
}

# A message body with a unique Message-ID, for tests that track messages.
hk_message() { # MSGID [SUBJECT]
	printf 'From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nbody of %s\r\n' \
		"${2:-test}" "$1" "$(date -R)" "$1"
}

hk_certs() {
	[ -s "$T/certs/server.crt" ] || "$HK_LIBDIR/mkcerts.sh" "$T/certs" >"$T/log/mkcerts.log" 2>&1 ||
		fail "mkcerts.sh failed: $(cat "$T/log/mkcerts.log")"
	HK_CERTS=$T/certs
}
