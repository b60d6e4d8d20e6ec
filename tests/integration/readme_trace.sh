#!/bin/bash
# readme_trace: the examples in README's "Rules, local delivery and the
# tracer" section are what the programs print. Each "    $ COMMAND" there
# runs against the seed examples copied unchanged (plus the `me = ...`
# line the section names) and its output must equal the indented lines
# below it, line for line (trailing blanks aside), so README cannot drift
# from the code. The sample result lines of help/trace.md come from the
# same seed examples: each is printed by one of their traces.
. "$(dirname "$0")/lib.sh"

EX=${HK_EXAMPLES:-$top_srcdir/../shared/examples}
[ -d "$EX" ] || EX=/work/shared/examples
[ -f "$EX/access" ] || skip "no seed examples at $EX"
README=$top_srcdir/README
[ -f "$README" ] || fail "no README in $top_srcdir"

# The section: from its title to the line before the next title (a line
# underlined with dashes).
awk '{ l[NR] = $0 }
	END {
		for (i = 1; i < NR; i++)
			if (l[i] == "Rules, local delivery and the tracer" && l[i + 1] ~ /^-+$/)
				break
		for (i += 2; i <= NR && !(i < NR && l[i + 1] ~ /^-+$/ && l[i] != ""); i++)
			print l[i]
	}' "$README" >"$T/section"
[ -s "$T/section" ] || fail "README has no \"Rules, local delivery and the tracer\" section"

# The configuration the section names: the seed files and `me = ...`.
me=$(grep -o '`me = [^`]*`' "$T/section" | head -n 1 | tr -d '`')
[ -n "$me" ] || fail "the README section does not say which me = it uses"
mkdir -p "$T/ex"
for f in "$EX"/*; do
	cp "$f" "$T/ex/"
done
echo "$me" >"$T/ex/hikyaku.conf"

# The commands as README types them, run on the sandbox.
hikyaku() { timeout 30 "$top_builddir/hikyaku" -C "$T/ex" "$@"; }
hikyaku-sendmail() {
	HIKYAKU_CONFIG_DIR=$T/ex timeout 30 "$top_builddir/hikyaku-sendmail" "$@"
}

# Split the indented blocks into cmd.N and want.N.
awk -v dir="$T" '
	/^    \$ / { n++; sub(/^    \$ /, ""); print > (dir "/cmd." n); close(dir "/cmd." n);
		printf "" > (dir "/want." n); next }
	/^    / && n { sub(/^    /, ""); print >> (dir "/want." n); next }
	/^[^ ]/ && n { close(dir "/want." n) }
	END { print n + 0 > (dir "/ncmd") }' "$T/section"
N=$(cat "$T/ncmd")
[ "$N" -ge 3 ] || fail "README's trace section shows $N commands, expected at least 3"

i=1
while [ $i -le "$N" ]; do
	cmd=$(cat "$T/cmd.$i")
	case $cmd in
	"hikyaku trace "* | "echo "*" | hikyaku-sendmail -bt") ;;
	*) fail "README shows a command this test does not know how to run: $cmd" ;;
	esac
	eval "$cmd" </dev/null >"$T/got.$i" 2>&1
	sed -i 's/[[:space:]]*$//' "$T/got.$i" "$T/want.$i"
	# The trailing blank line between README blocks is not output.
	sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$T/want.$i"
	[ -s "$T/want.$i" ] || fail "README shows no output for: $cmd"
	if ! cmp -s "$T/want.$i" "$T/got.$i"; then
		diff -u "$T/want.$i" "$T/got.$i" >&2
		fail "README's output of \`$cmd\` is not what it prints (diff above: - README, + now)"
	fi
	i=$((i + 1))
done
hk_log "$N README commands print what README shows"

# help/trace.md: its indented "mailer ..." and "result: ..." lines.
HELP=$top_srcdir/help/trace.md
sed -n 's/^    \(mailer .*\|result: .*\)$/\1/p' "$HELP" >"$T/help-lines"
[ -s "$T/help-lines" ] || fail "help/trace.md shows no mailer or result lines"
for a in "user@foo.com --client 192.168.1.7" project2@example.jp \
	project3@example.jp "x@elsewhere.org --client 10.9.9.9"; do
	hikyaku trace $a </dev/null
done >"$T/help-got" 2>&1
while IFS= read -r want; do
	grep -qxF -- "$want" "$T/help-got" ||
		fail "help/trace.md shows a line no trace of the seed examples prints: $want"
done <"$T/help-lines"
exit 0
