#!/bin/bash
# manpages: the pages generated from help/*.md format without a single
# groff warning, carry a NAME line apropos can read, say what the code
# has (every config key, every hikyaku subcommand, every remotes option,
# every hikyaku-sendmail option), and every help topic the console opens
# exists.
. "$(dirname "$0")/lib.sh"

need_cmd groff
MAN=$top_builddir/man
SRC=$top_srcdir
[ -d "$MAN" ] || fail "no $MAN: run make first"

# Plain text of a page: ASCII, no overstriking, no hyphenation, long lines.
render() {
	groff -man -Tascii -P-cbou -rLL=300n -rHY=0 "$1" 2>/dev/null
}

pages=0
for p in "$MAN"/*.[0-9]; do
	pages=$((pages + 1))
	for dev in utf8 ascii; do
		w=$(LC_ALL=C.UTF-8 groff -man -ww -z -T$dev "$p" 2>&1)
		[ -z "$w" ] || fail "$(basename "$p") -T$dev: $w"
	done
	if command -v man >/dev/null; then
		w=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null)
		[ -z "$w" ] || fail "$(basename "$p") man -l: $w"
	fi
	if command -v lexgrog >/dev/null; then
		lexgrog "$p" | grep -q ' - ' ||
			fail "$(basename "$p"): lexgrog finds no NAME line"
	fi
	txt=$(render "$p")
	# Markdown that leaked through the converter.
	if printf '%s\n' "$txt" | grep -Eq '\*\*[A-Za-z]|[A-Za-z]\*\*|\]\('; then
		fail "$(basename "$p"): markdown left in the text"
	fi
	name=$(basename "$p")
	name=${name%.*}
	printf '%s\n' "$txt" | grep -q "^ *$name - " ||
		fail "$(basename "$p"): NAME section is not \"$name - ...\""
done
[ "$pages" -ge 19 ] || fail "only $pages man pages in $MAN"

# hikyaku.conf(5): every key of core/config_table.c, with its default.
conf=$(render "$MAN/hikyaku.conf.5")
keys=$(sed -n 's/^[[:space:]]*KEY("\([a-z_]*\)".*/\1/p' "$SRC/core/config_table.c")
[ -n "$keys" ] || fail "no keys found in config_table.c"
for k in $keys; do
	printf '%s\n' "$conf" | grep -q "^ *$k = " ||
		fail "hikyaku.conf.5 lacks key $k"
done
printf '%s\n' "$conf" | grep -q 'Default: 100/1h' ||
	fail "hikyaku.conf.5: dsn_rate's default missing"

# hikyaku(8): every command console/hikyaku.c dispatches, in the synopsis.
h=$(render "$MAN/hikyaku.8")
cmds=$(sed -n 's/.*strcmp(argv\[0\], "\([a-z]*\)").*/\1/p' "$SRC/console/hikyaku.c")
[ -n "$cmds" ] || fail "no commands found in console/hikyaku.c"
for c in $cmds; do
	printf '%s\n' "$h" | grep -Eq "hikyaku (\[-C DIR\] )?(--[a-z]+ \| )?$c( |$)" ||
		fail "hikyaku.8 synopsis lacks \"$c\""
done
for c in 'config check' 'tls check' 'cert show' 'cert new' 'trace --bt' \
    'queue list' 'queue flush' 'status --check'; do
	printf '%s\n' "$h" | grep -q "hikyaku \[-C DIR\] $c" ||
		fail "hikyaku.8 synopsis lacks \"$c\""
done

# hikyaku-remotes(5): every option of core/remotes.c.
r=$(render "$MAN/hikyaku-remotes.5")
opts=$(sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)", OPT_.*/\1/p' "$SRC/core/remotes.c")
[ -n "$opts" ] || fail "no options found in core/remotes.c"
for o in $opts; do
	printf '%s\n' "$r" | grep -q -- "--$o" ||
		fail "hikyaku-remotes.5 lacks --$o"
done

# hikyaku-sendmail(8): the options console/sendmail.c acts on.
s=$(render "$MAN/hikyaku-sendmail.8")
for o in -t -i -oi -f -F -r -C -v -bs -bp -bi -bt -bm -q; do
	printf '%s\n' "$s" | grep -q -- "$o\b" ||
		fail "hikyaku-sendmail.8 lacks $o"
done

# hikyakud(8): the daemon's options and signals.
d=$(render "$MAN/hikyakud.8")
for o in -C -d -f -h -V -bh SIGHUP SIGUSR1 SIGTERM; do
	printf '%s\n' "$d" | grep -q -- "$o\b" || fail "hikyakud.8 lacks $o"
done

# --help prints the synopsis of the help file its man page is made of
# (help/usage.awk copies it at build time), line for line: no usage text
# of its own that could drift from the page. A help file name in the
# synopsis is printed as its man page; both are left out of the compare.
synopsis() {	# FILE [COMMAND]: the synopsis lines, only COMMAND's
	LC_ALL=C awk -v cmd="$2" '
		/^#+ / { in_it = $0 == "## Synopsis"; next }
		!in_it { next }
		!/^    / { if (code) exit; next }	# its first code block
		{ code = 1 }
		{ line = substr($0, 5) }
		line !~ /^ / {
			rest = line
			sub(/^hikyaku /, "", rest)
			sub(/^\[-C DIR\] /, "", rest)
			take = cmd == "" || rest == cmd || index(rest, cmd " ") == 1
		}
		take {
			sub(/^ +/, "", line)
			gsub(/(help\/)?[a-z_.-]+\.md/, "", line)
			print line
		}' "$SRC/help/$1"
}
usage_lines() {	# the "usage:" lines of --help, up to the first blank line
	LC_ALL=C awk '
		NR == 1 && !sub(/^usage: /, "") { exit }
		/^$/ || /^\(more in / { exit }
		{ sub(/^ +/, ""); gsub(/[a-z_.-]+\([0-9]\)/, ""); print }'
}
check_usage() {	# FILE COMMAND PROGRAM ARG...
	local file=$1 cmd=$2 want got out rc=0
	shift 2
	out=$("$@" 2>/dev/null) || rc=$?
	[ "$rc" = 0 ] || fail "$*: exit $rc"
	want=$(synopsis "$file" "$cmd")
	[ -n "$want" ] || fail "help/$file: no synopsis${cmd:+ for $cmd}"
	got=$(printf '%s\n' "$out" | usage_lines)
	[ "$got" = "$want" ] || fail "$* does not print help/$file's synopsis:
$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got"))"
}
HK=$top_builddir/hikyaku
check_usage hikyaku.md "" "$HK" --help
check_usage hikyaku.md "" "$HK" help
check_usage hikyakud.md "" "$top_builddir/hikyakud" -h
check_usage hikyakud.md "" "$top_builddir/hikyakud" --help
check_usage hikyaku-sendmail.md "" "$top_builddir/hikyaku-sendmail" --help
check_usage tester.md "" "$HK" smtp --help
check_usage trace.md "" "$HK" trace --help
check_usage selftest.md "trace --session" "$HK" trace --session --help
check_usage selftest.md selftest "$HK" selftest --help
check_usage tls.md "tls check" "$HK" tls check --help
check_usage tls.md cert "$HK" cert --help
check_usage import.md "" "$HK" import --help
for c in queue status reload "config check" passwd; do
	# shellcheck disable=SC2086 # "config check" is two words
	check_usage hikyaku.md "$c" "$HK" $c --help
done

# Every help topic the console opens is a file in help/.
topics=$(sed -n -e 's/.*\.help_topic = "\([a-z_-]*\)".*/\1/p' \
	-e 's/.*tui_help("\([a-z_-]*\)").*/\1/p' "$SRC"/console/*.c | sort -u)
[ -n "$topics" ] || fail "no help topics found in console/"
for t in $topics; do
	[ -f "$SRC/help/$t.md" ] || fail "console help topic $t: no help/$t.md"
done

# Every help file is in some man page (MAN_XREF names them all).
for f in "$SRC"/help/*.md; do
	b=$(basename "$f")
	grep -Eq "(^|[[:space:]])$b=" "$SRC/Makefile.am" ||
		fail "help/$b is in no man page (Makefile.am MAN_XREF)"
done

hk_log "ok: $pages pages"
exit 0
