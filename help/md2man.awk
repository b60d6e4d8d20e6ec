# md2man.awk: the markdown of help/*.md to man(7), so one text serves the
# console's help and the man pages (DESIGN §9).  POSIX awk (mawk, gawk);
# run it with LC_ALL=C so every awk treats the input as bytes.
#
#   awk -f md2man.awk -v page=hikyaku-access -v section=5 \
#       [-v version=1.0] [-v xref="access.md=hikyaku-access(5) ..."] FILE...
#
# The subset: the first line of the first file is the title, "# NAME(S) —
# what it is" or "# what it is", and becomes .TH and the NAME section;
# "#"/"##" headings are .SH and "###" .SS (a "#" heading in a later file
# starts that file's section); paragraphs; `code` (bold); **bold**;
# *italic*; [text](url) (the text); "- " and "1. " lists; code blocks
# indented by four spaces or fenced with ```; pipe tables (one .TP per
# row).  A file name in xref ("tls.md", "help/tls.md") is printed as the
# man page it became.

BEGIN {
	for (i = 128; i < 256; i++)
		ord[sprintf("%c", i)] = i
	# Characters groff names; anything else goes out as \[uXXXX].
	uname[8212] = "\\(em"; uname[8211] = "\\(en"; uname[8230] = "..."
	uname[8592] = "\\(<-"; uname[8594] = "\\(->"
	# Arrow keys: the words, which every output device has.
	uname[8593] = "Up"; uname[8595] = "Down"
	uname[8220] = "\\(lq"; uname[8221] = "\\(rq"
	uname[8216] = "\\(oq"; uname[8217] = "\\(cq"
	uname[215] = "\\(mu"; uname[8804] = "\\(<="; uname[8805] = "\\(>="
	n = split(xref, xs, " ")
	for (i = 1; i <= n; i++) {
		eq = index(xs[i], "=")
		if (eq > 1)
			xmap[substr(xs[i], 1, eq - 1)] = substr(xs[i], eq + 1)
	}
	if (page == "" || section == "") {
		print "md2man.awk: -v page=NAME -v section=N are required" \
		    > "/dev/stderr"
		exit 2
	}
	mode = ""	# "", "para", "item", "code", "fence", "table"
	text = ""
	titled = 0
	blanks = 0
}

# ---- escaping and inline markup ----

# Non-ASCII (UTF-8) to groff's named or numbered characters.
function uni(s,    out, i, c, b, cp, len, k) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (!(c in ord)) {
			out = out c
			continue
		}
		b = ord[c]
		if (b >= 240) { len = 4; cp = b - 240 }
		else if (b >= 224) { len = 3; cp = b - 224 }
		else if (b >= 192) { len = 2; cp = b - 192 }
		else { out = out "?"; continue }
		for (k = 1; k < len; k++) {
			c = substr(s, i + k, 1)
			cp = cp * 64 + ((c in ord) ? ord[c] - 128 : 0)
		}
		i += len - 1
		if (cp in uname)
			out = out uname[cp]
		else
			out = out sprintf("\\[u%04X]", cp)
	}
	return out
}

# Text that roff must print as it is: backslashes and hyphen-minus (so
# options copied from the page work).
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	return s
}

# A help file name as the man page it became, else "".
function xpage(s,    t) {
	t = s
	sub(/^help\//, "", t)
	return (t in xmap) ? xmap[t] : ""
}

function xpage_fmt(p,    i) {
	i = index(p, "(")
	return "\\fB" esc(substr(p, 1, i - 1)) "\\fR" substr(p, i)
}

# Markup outside code spans (s is already escaped).
function emph(s,    out, m) {
	out = ""
	while (match(s, /\[[^]]*\]\([^)]*\)/)) {
		m = substr(s, RSTART, RLENGTH)
		sub(/\]\(.*$/, "", m)
		out = out substr(s, 1, RSTART - 1) substr(m, 2)
		s = substr(s, RSTART + RLENGTH)
	}
	s = out s
	out = ""
	while (match(s, /\*\*[^*]+\*\*/)) {
		out = out substr(s, 1, RSTART - 1) "\\fB" \
		    substr(s, RSTART + 2, RLENGTH - 4) "\\fR"
		s = substr(s, RSTART + RLENGTH)
	}
	s = out s
	out = ""
	while (match(s, /\*[^* \n][^*\n]*\*/)) {
		out = out substr(s, 1, RSTART - 1) "\\fI" \
		    substr(s, RSTART + 1, RLENGTH - 2) "\\fR"
		s = substr(s, RSTART + RLENGTH)
	}
	s = out s
	out = ""
	while (match(s, /[A-Za-z0-9_\/\\-]+\.md/)) {
		m = substr(s, RSTART, RLENGTH)
		gsub(/\\e|\\/, "", m)
		out = out substr(s, 1, RSTART - 1)
		out = out (xpage(m) != "" ? xpage_fmt(xpage(m)) : \
		    substr(s, RSTART, RLENGTH))
		s = substr(s, RSTART + RLENGTH)
	}
	return out s
}

# Inline markup of a text that may span lines: `code` is bold and
# nothing inside it is markup.
function inline(s,    n, parts, i, out) {
	n = split(s, parts, "`")
	out = ""
	for (i = 1; i <= n; i++) {
		if (i % 2 == 0 && i < n) {
			if (xpage(parts[i]) != "")
				out = out xpage_fmt(xpage(parts[i]))
			else
				out = out "\\fB" esc(parts[i]) "\\fR"
		} else {
			out = out emph(esc((i % 2 == 0 ? "`" : "") parts[i]))
		}
	}
	return uni(out)
}

# Print text lines, none of which may start a request by accident.
function emit(s,    n, lines, i, l) {
	n = split(s, lines, "\n")
	for (i = 1; i <= n; i++) {
		l = lines[i]
		sub(/^[ \t]+/, "", l)
		if (l == "")
			continue
		if (l ~ /^[.']/)
			l = "\\&" l
		print l
	}
}

# A line of a code block: kept as it is, spaces included.
function emit_code(l) {
	l = uni(esc(l))
	if (l ~ /^[.']/)
		l = "\\&" l
	print l
}

# ---- blocks ----

function flush() {
	if (mode == "para") {
		print ".PP"
		emit(inline(text))
	} else if (mode == "item") {
		print ".IP " item_tag " " (item_tag == "\\(bu" ? 2 : 4)
		emit(inline(text))
	} else if (mode == "code" || mode == "fence") {
		print ".fi"
		print ".RE"
	}
	mode = ""
	text = ""
	blanks = 0
}

function heading(level, t,    plain) {
	flush()
	t = inline(t)
	gsub(/"/, "\\(dq", t)
	plain = t
	gsub(/\\f[BIR]/, "", plain)
	# Section names in capitals, as man pages have them; not when the
	# heading names an option or a command (-bs, mailq).
	if (level <= 2 && plain ~ /^[A-Za-z][A-Za-z ,()\/]*$/ && \
	    plain !~ /^(mailq|newaliases)/)
		t = toupper(t)
	print (level <= 2 ? ".SH " : ".SS ") t
}

function table_row(l,    n, cells, i, body) {
	gsub(/\\\|/, "\001", l)
	sub(/^[ \t]*\|/, "", l)
	sub(/\|[ \t]*$/, "", l)
	n = split(l, cells, "|")
	for (i = 1; i <= n; i++) {
		gsub(/\001/, "|", cells[i])
		sub(/^[ \t]+/, "", cells[i])
		sub(/[ \t]+$/, "", cells[i])
	}
	if (table_rows++ == 0) {
		for (i = 1; i <= n; i++)
			thead[i] = cells[i]
		return
	}
	if (l ~ /^[-:| \t]+$/)
		return
	print ".TP"
	emit(inline(cells[1]))
	if (n == 2) {
		emit(inline(cells[2]))
		return
	}
	for (i = 2; i <= n; i++) {
		if (cells[i] == "")
			continue
		if (i > 2)
			print ".br"
		emit(inline(thead[i] ": " cells[i]))
	}
}

# ---- the title ----

FNR == 1 && !titled {
	titled = 1
	t = $0
	sub(/^#[ \t]*/, "", t)
	desc = t
	if (index(t, " — ") > 0)
		desc = substr(t, index(t, " — ") + length(" — "))
	gsub(/`/, "", desc)
	printf ".\\\" Generated from help/*.md by help/md2man.awk; edit those.\n"
	printf ".TH \"%s\" \"%s\" \"\" \"hikyaku %s\" \"hikyaku manual\"\n", \
	    toupper(page), section, version
	print ".SH NAME"
	print esc(page) " \\- " uni(esc(desc))
	pending_description = 1
	next
}

# ---- code ----

mode == "fence" {
	if ($0 ~ /^```/)
		flush()
	else
		emit_code($0)
	next
}

mode == "code" {
	if ($0 ~ /^[ \t]*$/) {
		blanks++
		next
	}
	if ($0 ~ /^    /) {
		for (; blanks > 0; blanks--)
			print ""
		emit_code(substr($0, 5))
		next
	}
	flush()
}

function start_body() {
	if (pending_description) {
		print ".SH DESCRIPTION"
		pending_description = 0
	}
}

/^```/ {
	flush()
	start_body()
	print ".PP"
	print ".RS 4"
	print ".nf"
	mode = "fence"
	next
}

/^[ \t]*$/ {
	if (mode == "table")
		mode = ""
	flush()
	next
}

/^    / && mode != "para" && mode != "item" {
	flush()
	start_body()
	print ".PP"
	print ".RS 4"
	print ".nf"
	mode = "code"
	emit_code(substr($0, 5))
	next
}

# ---- headings, tables, lists, paragraphs ----

/^#+[ \t]/ {
	level = index($0, " ") - 1
	t = $0
	sub(/^#+[ \t]+/, "", t)
	pending_description = 0
	heading(level, t)
	next
}

/^[ \t]*\|/ {
	if (mode != "table") {
		flush()
		start_body()
		mode = "table"
		table_rows = 0
	}
	table_row($0)
	next
}

/^[-*][ \t]/ || /^[0-9]+\.[ \t]/ {
	flush()
	start_body()
	mode = "item"
	if ($0 ~ /^[-*]/) {
		item_tag = "\\(bu"
	} else {
		item_tag = $0
		sub(/\..*/, ".", item_tag)
	}
	text = $0
	sub(/^([-*]|[0-9]+\.)[ \t]+/, "", text)
	next
}

{
	if (mode == "para" || mode == "item") {
		text = text "\n" $0
		next
	}
	flush()
	start_body()
	mode = "para"
	text = $0
}

END {
	flush()
}
