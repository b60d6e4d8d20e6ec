#!/bin/bash
# local_pipe_user: "|command" aliases run as pipe_user, not as the
# daemon's user (DESIGN section 12 "Local delivery"). As root the daemon
# drops to nobody and a pipe launcher runs pipes as pipe_user = daemon:
# the recorded uid is daemon's; exit 75 defers; pipe_timeout kills the
# pipe's whole process group; a reload that changes pipe_user says a
# restart is needed, keeps the old one and warns once at the pipes that
# still run as it; the launcher ends with the daemon. Unprivileged, pipes
# run as the daemon's own user and the log says so once.
. "$(dirname "$0")/lib.sh"

if [ $HK_ROOT = 1 ]; then
	PIPE_USER=daemon
	getent passwd "$PIPE_USER" >/dev/null || skip "no user $PIPE_USER"
	[ "$(id -u "$PIPE_USER")" != "$(id -u "$HK_USER")" ] ||
		skip "$PIPE_USER and $HK_USER share a uid"
else
	PIPE_USER=nobody
fi
WANT_UID=$(id -u "$PIPE_USER")
[ $HK_ROOT = 1 ] || WANT_UID=$(id -u)

# pipe_user (or we, unprivileged) must be able to write here.
mkdir -p "$T/drop"
chmod 1777 "$T/drop"
hk_conf "pipe_user = $PIPE_USER" "pipe_timeout = 2s" "pausetime = 1"
cat >"$T/conf/aliases" <<EOF
# local_pipe_user test aliases
whoami: "|/usr/bin/id -u > $T/drop/uid"
later: "|cat > /dev/null; exit 75"
hang: "|echo \$\$ > $T/drop/hang.pgid; sleep 60 & sleep 60"
again: "|/usr/bin/id -u > $T/drop/uid.again"
EOF
chmod 644 "$T/conf/aliases"
hk_start
L=$T/log/hikyaku.log

if [ $HK_ROOT = 1 ]; then
	assert_grep "pipes run as $PIPE_USER through the pipe launcher \\(pid [0-9]+\\)" "$L" "start-up log"
	LAUNCHER=$(sed -n 's/.*through the pipe launcher (pid \([0-9]*\)).*/\1/p' "$L" | head -n1)
	kill -0 "$LAUNCHER" || fail "no pipe launcher process $LAUNCHER"
	assert_eq 0 "$(stat -c %u "/proc/$LAUNCHER")" "the launcher's uid"
	assert_eq "$(id -u "$HK_USER")" "$(stat -c %u "/proc/$HK_DAEMON_PID")" "the daemon's uid"
else
	assert_grep "pipes run as $(id -un), the daemon's own user: hikyakud started unprivileged" "$L" "start-up log"
	assert_eq 1 "$(grep -c 'pipes run as' "$L")" "lines saying who runs pipes"
fi

printf 'Subject: who\n\nwho am i\n' | hk_sendmail whoami@relay.test ||
	fail "sendmail to whoami"
wait_for 30 test -s "$T/drop/uid" || fail "the pipe wrote no uid"
wait_for 30 grep -Eq 'to=<whoami@relay.test>, .*status=sent' "$L" ||
	fail "whoami was not delivered"
assert_eq "$WANT_UID" "$(cat "$T/drop/uid")" "uid the pipe ran as"

# Exit 75 defers; the recipient stays queued.
printf 'Subject: later\n\nlater\n' | hk_sendmail later@relay.test ||
	fail "sendmail to later"
wait_for 30 grep -Eq 'to=<later@relay.test>, .*status=deferred \(command "\|cat > /dev/null; exit 75" exited 75' "$L" ||
	fail "exit 75 did not defer"

# The timeout kills the command and its background sleep, then defers.
printf 'Subject: hang\n\nhang\n' | hk_sendmail hang@relay.test ||
	fail "sendmail to hang"
wait_for 30 grep -Eq 'to=<hang@relay.test>, .*status=deferred \(command .* timed out and was killed' "$L" ||
	fail "the hanging pipe was not killed on pipe_timeout"
PGID=$(cat "$T/drop/hang.pgid")
group_gone() { ! ps -o stat= -g "$PGID" | grep -qv '^Z'; }
wait_for 10 group_gone || fail "process group $PGID still runs: $(ps -o pid,user,stat,args -g "$PGID")"

if [ $HK_ROOT = 1 ]; then
	# pipe_user needs a restart: the reload says so and keeps it.
	hk_conf "pipe_user = bin" "pipe_timeout = 2s" "pausetime = 1"
	hk_cli reload >"$T/reload.txt" 2>&1 || fail "reload: $(cat "$T/reload.txt")"
	assert_grep 'pipe_user bin needs a restart \(pipes run as daemon\)' "$T/reload.txt" "hikyaku reload output"
	assert_grep 'pipe_user changed to bin: restart needed; pipes still run as daemon' "$L" "log after reload"
	printf 'Subject: again\n\nagain\n' | hk_sendmail again@relay.test ||
		fail "sendmail to again"
	wait_for 30 test -s "$T/drop/uid.again" || fail "the pipe wrote no uid after reload"
	assert_eq "$WANT_UID" "$(cat "$T/drop/uid.again")" "uid after a reload"
	# Said once for the new pipe_user, not at every pipe until a restart.
	printf 'Subject: again\n\nagain\n' | hk_sendmail again@relay.test ||
		fail "sendmail to again, twice"
	wait_for 30 eval '[ "$(grep -c "to=<again@relay.test>, .*status=sent" "$L")" = 2 ]' ||
		fail "the second pipe to again was not delivered"
	assert_eq 1 "$(grep -c 'pipe_user bin takes effect after a restart' "$L")" \
		"warnings that pipe_user waits for a restart"
	hk_stop
	wait_for 10 eval '! kill -0 "$LAUNCHER" 2>/dev/null' ||
		fail "the pipe launcher outlived the daemon"
else
	hk_stop
fi
exit 0
