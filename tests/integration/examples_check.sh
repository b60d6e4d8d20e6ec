#!/bin/bash
# examples_check: every seed example in ../shared/examples parses
# unchanged (issue 4): `hikyaku config check` on a copy of the directory,
# with no hikyaku.conf of its own, reports no error (warnings are fine),
# exits 0, and loads every entry of every rule file: its counts equal
# the non-comment lines of each file.
. "$(dirname "$0")/lib.sh"

EX=${HK_EXAMPLES:-$top_srcdir/../shared/examples}
[ -d "$EX" ] || EX=/work/shared/examples
[ -f "$EX/access" ] || skip "no seed examples at $EX"
mkdir -p "$T/ex"
for f in "$EX"/*; do
	cp "$f" "$T/ex/"
done
[ -e "$T/ex/hikyaku.conf" ] && fail "the seed examples have a hikyaku.conf; this test expects none"

check() { timeout 30 "$top_builddir/hikyaku" -C "$T/ex" config check "$@" </dev/null; }
check >"$T/out" 2>&1 || fail "config check of the seed examples failed: $(cat "$T/out")"
assert_no_grep ': error: ' "$T/out" "config check of the seed examples"
assert_grep "^$T/ex: configuration OK " "$T/out" "config check summary"
assert_no_grep 'Sanitizer|runtime error' "$T/out" "config check"
# Every line that is not a comment warns at most: none is an error.
if grep -Ev '^[^:]+(:[0-9]+)*: warning: |^[^ ]+: configuration OK |^rules: ' "$T/out" >"$T/other"; then
	fail "config check printed lines that are neither warnings nor the summary: $(cat "$T/other")"
fi

# entries FILE: lines that are neither blank nor comments (continuation
# lines, which start with blanks, belong to the entry above).
entries() { grep -Evc '^[[:space:]]*(#|$)|^[[:space:]]' "$T/ex/$1"; }
summary=$(grep '^rules: ' "$T/out")
for f in access aliases transport sasl_passwd; do
	[ -f "$T/ex/$f" ] || continue
	assert_match "(^| )$f $(entries "$f")( |$)" "$summary" "entries of $f loaded"
done
assert_match "configuration OK \\(.*$(entries remotes) remotes, $(entries local-host-names) local domains" \
	"$(grep 'configuration OK' "$T/out")" "remotes and local domains loaded"

# -q: only the warnings, the same status.
check -q >"$T/outq" 2>&1 || fail "config check -q of the seed examples failed: $(cat "$T/outq")"
assert_no_grep ': error: |configuration OK' "$T/outq" "config check -q"
exit 0
