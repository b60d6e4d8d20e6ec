#!/bin/bash
# tests/bench/relay.sh: the project's benchmark (issue 2). N messages of
# SIZE bytes through smtp-source -> hikyakud -> smtp-sink and, in the same
# run, through Postfix configured as the same relay, using the shared
# harness ../shared/bench/run.sh (TARGET_CMD). Prints msg/s end to end,
# the ratio to Postfix, idle and peak PSS of hikyakud, and with
# SYNC_TRACE=1 the sync calls per message. Run as root; not part of ./check.
# See tests/bench/README.md.
#
# Internal mode, used as the harness's TARGET_CMD: relay.sh --target
# writes a config into $TARGET_WORK and execs hikyakud in the foreground.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

if [ "${1:-}" = --target ]; then
	conf=$TARGET_WORK/conf
	mkdir -p "$conf"
	cat >"$conf/hikyaku.conf" <<-CONF
	listen = 127.0.0.1:$TARGET_PORT relay
	spool = $TARGET_WORK/spool
	log = $TARGET_WORK/hikyaku.log
	user = ${BENCH_USER:-nobody}
	max_connections = 100
	CONF
	echo "127.0.0.1 smtp --port=$SINK_PORT" >"$conf/remotes"
	chmod 755 "$TARGET_WORK" "$conf"
	chmod 644 "$conf"/*
	exec "$BENCH_BUILD/hikyakud" -f -C "$conf"
fi
if [ "${1:-}" = --queue ]; then
	"$BENCH_BUILD/hikyaku" -C "$TARGET_WORK/conf" queue list --json 2>/dev/null | grep -c '"qid"'
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "relay.sh: run as root (the harness uses namespaces and installs packages)" >&2; exit 1; }
harness=${BENCH_HARNESS:-$top/../shared/bench}
[ -x "$harness/run.sh" ] || { echo "relay.sh: no harness at $harness (set BENCH_HARNESS)" >&2; exit 1; }

. "$top/tests/deps.sh"
if [ -n "$(deps_missing postfix)" ]; then
	# "No configuration": the harness runs its own private instance.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
deps_install $DEPS_PACKAGES postfix || exit 1

# An optimised build of our own, never the sanitizer build of ./check.
export BENCH_BUILD=${BENCH_BUILD:-$top/build-bench}
if [ ! -x "$BENCH_BUILD/hikyakud" ] || [ "${BENCH_REBUILD:-1}" = 1 ]; then
	(cd "$top" && autoreconf -fi >/dev/null 2>&1) || { echo "relay.sh: autoreconf failed" >&2; exit 1; }
	mkdir -p "$BENCH_BUILD"
	(cd "$BENCH_BUILD" && { [ -f Makefile ] || "$top/configure" CFLAGS="-O2 -g" >configure.log 2>&1; } &&
		make -j"$(nproc)" >make.log 2>&1) ||
		{ echo "relay.sh: build failed, see $BENCH_BUILD/make.log" >&2; exit 1; }
fi

rows=$(mktemp /tmp/hk-bench.XXXXXX)
trap 'rm -f "$rows"' EXIT
export N=${N:-5000} SESSIONS=${SESSIONS:-10} SIZE=${SIZE:-1024} REPS=${REPS:-1}
export SYSTEMS=${SYSTEMS:-"postfix target"}
export TARGET_NAME=hikyaku
export TARGET_CMD="$here/relay.sh --target"
export TARGET_QUEUE_CMD="$here/relay.sh --queue"
export RESULTS_TSV=$rows
"$harness/run.sh" || { echo "relay.sh: harness failed" >&2; exit 1; }

# results.tsv rows: name rep n accept e2e idleRSS idlePSS peakRSS peakPSS procs left status
/usr/bin/python3 - "$rows" <<'PYEOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 12:
        continue
    rows.setdefault(f[0], []).append(f)
def med(name, i):
    vals = []
    for f in rows.get(name, []):
        try:
            vals.append(float(f[i]))
        except ValueError:
            pass
    return statistics.median(vals) if vals else None
print()
print("==== hikyaku vs postfix (medians) ====")
rate = {}
for name in ("hikyaku", "postfix"):
    if name not in rows:
        continue
    n = float(rows[name][0][2])
    e2e = med(name, 4)
    rate[name] = n / e2e if e2e else None
    mib = lambda k: "%.1f MiB" % (k / 1024) if k is not None else "NA"
    print("%-8s end-to-end %s msg/s, idle PSS %s, peak PSS %s, status %s" % (
        name, "%.1f" % rate[name] if rate[name] else "NA",
        mib(med(name, 6)), mib(med(name, 8)),
        ",".join(sorted({f[11] for f in rows[name]}))))
if rate.get("hikyaku") and rate.get("postfix"):
    print("ratio hikyaku/postfix: %.2fx (target >= 2x; idle PSS <= 4 MiB, peak PSS <= 20 MiB)"
          % (rate["hikyaku"] / rate["postfix"]))
PYEOF
[ "${SYNC_TRACE:-0}" = 1 ] && echo "(sync calls per message: the 'fsync-class calls/msg' of the hikyaku line above; target < 1)"
exit 0
