/*
 * Tests of aliases.c: the /etc/aliases example lines, every target form,
 * continuations and quotes, the expansion tree (self reference, loops,
 * depth, :include:), the rule that file and pipe targets come only from
 * the system aliases file, and the file:line:col of errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aliases.h"
#include "config.h"
#include "util.h"

static int
local_example_jp(const char *domain, void *arg)
{
	return strcmp(domain, "example.jp") == 0 ||
	    strcmp(domain, "mail.example.jp") == 0;
}

static int
trust_all(const char *path, void *arg)
{
	return 1;
}

static struct aliases *
parse_ok(const char *text, struct diags *d)
{
	struct aliases *a;

	if (aliases_parse("aliases", text, &a, d) < 0)
		diags_print(d, stderr);
	assert_non_null(a);
	return a;
}

/* The leaves as "kind:target" joined by spaces, for short assertions. */
static char *
leaves_str(const struct alias_node *root)
{
	struct buf b;
	size_t n;
	const struct alias_node **v = alias_node_leaves(root, &n);

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s:%s", i ? " " : "",
		    alias_kind_str(v[i]->kind), v[i]->target);
	free(v);
	return buf_take(&b);
}

static void
assert_leaves(const struct alias_node *root, const char *want)
{
	char *got = leaves_str(root);

	if (strcmp(got, want) != 0)
		fail_msg("leaves \"%s\", want \"%s\"", got, want);
	free(got);
}

/* ---- the example ---- */

static const char example[] =
    "# /etc/aliases: mail for project@ goes to takagi@, iida@ and "
    "support@example.jp\n"
    "project: takagi, iida, support@example.jp\n"
    "# write to /dev/null\n"
    "project2: /dev/null\n"
    "# pipe to a command's standard input\n"
    "project3: \"| /usr/local/bin/procmail\"\n";

static void
check_example(const struct aliases *a)
{
	struct alias_node *t;
	const struct alias *al;

	assert_int_equal(a->n, 3);
	al = aliases_lookup(a, "PROJECT");
	assert_non_null(al);
	assert_int_equal(al->line, 2);
	assert_int_equal(al->ntargets, 3);
	assert_int_equal(al->targets[0].kind, ALIAS_LOCAL);
	assert_int_equal(al->targets[2].kind, ALIAS_ADDRESS);
	assert_int_equal(al->targets[2].col, 24);

	t = aliases_expand(a, "project", local_example_jp, NULL, NULL);
	assert_int_equal(t->alias_line, 2);
	assert_int_equal(t->nchildren, 3);
	assert_int_equal(t->children[1]->line, 2);
	assert_string_equal(t->children[1]->file, a->file);
	/* support@example.jp is ours: it becomes the local name support. */
	assert_leaves(t, "local:takagi local:iida local:support");
	alias_node_free(t);
	t = aliases_expand(a, "project", NULL, NULL, NULL);
	assert_leaves(t, "local:takagi local:iida address:support@example.jp");
	alias_node_free(t);

	t = aliases_expand(a, "project2", NULL, NULL, NULL);
	assert_leaves(t, "/dev/null:/dev/null");
	assert_int_equal(t->children[0]->line, 4);
	alias_node_free(t);

	t = aliases_expand(a, "project3", NULL, NULL, NULL);
	assert_leaves(t, "pipe:/usr/local/bin/procmail");
	assert_null(t->children[0]->refused);
	alias_node_free(t);

	/* No alias: the name itself is the destination. */
	t = aliases_expand(a, "takagi", NULL, NULL, NULL);
	assert_int_equal(t->alias_line, 0);
	assert_leaves(t, "local:takagi");
	alias_node_free(t);
}

static void
test_example_lines(void **state)
{
	struct diags d = { 0 };
	struct aliases *a = parse_ok(example, &d);

	assert_int_equal(d.n, 0);
	check_example(a);
	aliases_free(a);
}

static void
test_example_file(void **state)
{
	const char *top = getenv("top_srcdir");
	struct diags d = { 0 };
	struct aliases *a;
	char *path;

	xasprintf(&path, "%s/tests/unit/data/rules/aliases", top ? top : ".");
	assert_int_equal(aliases_load(path, &a, &d), 0);
	assert_int_equal(d.n, 0);
	check_example(a);
	aliases_free(a);
	free(path);
}

/* ---- formats ---- */

static void
test_target_forms(void **state)
{
	struct diags d = { 0 };
	struct aliases *a = parse_ok(
	    "Root: root, /var/mail/root\n"			/* 1 */
	    "postmaster: root\n"				/* 2 */
	    "a: b\n"						/* 3 */
	    "b: c, A\n"						/* 4 */
	    "c: \"/tmp/c box\", \\a,\n"				/* 5 */
	    "   \"|/bin/cat -n\", x@Example.COM.\n"		/* 6 */
	    "hash: \"|/bin/echo #1\", |/bin/true  # comment\n"	/* 7 */
	    "inc: :INCLUDE:/etc/mail/list\n"			/* 8 */
	    "quoted: \"john smith\"@example.org, <y@example.org>,\n" /* 9 */
	    "\n"
	    "  # a comment inside does not end the entry\n"
	    "\tz@example.org\n"					/* 12 */
	    "root: other\n", &d);				/* 13 */
	const struct alias *al;
	struct alias_node *t;

	/* A second root is a warning and the first one stays. */
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].severity, DIAG_WARNING);
	assert_int_equal(d.v[0].line, 13);
	assert_int_equal(a->n, 8);

	al = aliases_lookup(a, "c");
	assert_int_equal(al->ntargets, 4);
	assert_int_equal(al->targets[0].kind, ALIAS_FILE);
	assert_string_equal(al->targets[0].value, "/tmp/c box");
	assert_int_equal(al->targets[1].kind, ALIAS_LOCAL);
	assert_true(al->targets[1].noalias);
	assert_int_equal(al->targets[2].kind, ALIAS_PIPE);
	assert_int_equal(al->targets[2].line, 6);
	assert_int_equal(al->targets[2].col, 4);
	assert_string_equal(al->targets[3].value, "x@example.com");

	al = aliases_lookup(a, "hash");
	assert_int_equal(al->ntargets, 2);
	assert_string_equal(al->targets[0].value, "/bin/echo #1");
	assert_string_equal(al->targets[1].value, "/bin/true");

	al = aliases_lookup(a, "inc");
	assert_int_equal(al->targets[0].kind, ALIAS_INCLUDE);
	assert_string_equal(al->targets[0].value, "/etc/mail/list");

	al = aliases_lookup(a, "quoted");
	assert_int_equal(al->ntargets, 3);
	assert_string_equal(al->targets[0].value, "\"john smith\"@example.org");
	assert_string_equal(al->targets[1].value, "y@example.org");
	assert_int_equal(al->targets[2].line, 12);

	/* sendmail: a name listing itself means its own mailbox. */
	t = aliases_expand(a, "postmaster", NULL, NULL, NULL);
	assert_int_equal(t->children[0]->alias_line, 1);
	assert_true(t->children[0]->children[0]->self);
	assert_false(t->children[0]->children[0]->loop);
	assert_leaves(t, "local:root file:/var/mail/root");
	alias_node_free(t);

	/* a -> b -> c -> ..., and b's A loops back to a. */
	t = aliases_expand(a, "a", NULL, NULL, NULL);
	assert_true(t->children[0]->children[1]->loop);
	assert_string_equal(t->children[0]->children[1]->target, "A");
	/* \a is a's mailbox: not aliased, not a loop. */
	assert_false(t->children[0]->children[0]->children[1]->loop);
	assert_leaves(t, "file:/tmp/c box local:a pipe:/bin/cat -n "
	    "address:x@example.com");
	alias_node_free(t);
	aliases_free(a);
	diags_free(&d);
}

static void
test_depth(void **state)
{
	struct buf b;
	struct diags d = { 0 };
	struct aliases *a;
	struct alias_node *t, *n;
	int depth = 0;

	buf_init(&b);
	for (int i = 0; i < ALIASES_MAX_DEPTH + 5; i++)
		buf_printf(&b, "n%d: n%d\n", i, i + 1);
	a = parse_ok(b.data, &d);
	t = aliases_expand(a, "n0", NULL, NULL, NULL);
	for (n = t; n->nchildren > 0; n = n->children[0])
		depth++;
	assert_int_equal(depth, ALIASES_MAX_DEPTH);
	assert_non_null(n->refused);
	assert_non_null(strstr(n->refused, "deeper"));
	assert_leaves(t, "");
	alias_node_free(t);
	aliases_free(a);
	buf_free(&b);
}

/* ---- :include: and the file/pipe rule ---- */

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_include(void **state)
{
	char dir[] = "/tmp/test_aliases.XXXXXX";
	char *inc1, *inc2, *inc3, *text;
	struct diags d = { 0 };
	struct aliases *a;
	struct alias_node *t, *inc;

	assert_non_null(mkdtemp(dir));
	xasprintf(&inc1, "%s/list", dir);
	xasprintf(&inc2, "%s/loop", dir);
	xasprintf(&inc3, "%s/bad", dir);
	write_file(inc1,
	    "# members\n"
	    "alice, bob@example.org\n"
	    "\"|/bin/evil\"\n"
	    "/tmp/evil\n"
	    "c\n");
	write_file(inc2, "list3\n");
	write_file(inc3, "ok, bad%route@example.org\n");
	xasprintf(&text,
	    "list: :include:%s\n"		/* 1 */
	    "c: \"|/bin/c\"\n"			/* 2 */
	    "list2: :include:%s/missing\n"	/* 3 */
	    "list3: :include:%s\n"		/* 4 */
	    "list4: :include:%s\n",		/* 5 */
	    inc1, dir, inc2, inc3);
	a = parse_ok(text, &d);

	t = aliases_expand(a, "list", NULL, NULL, NULL);
	inc = t->children[0];
	assert_int_equal(inc->kind, ALIAS_INCLUDE);
	assert_int_equal(inc->nchildren, 5);
	/* Children name the include file and its line. */
	assert_string_equal(inc->children[1]->file, inc1);
	assert_int_equal(inc->children[1]->line, 2);
	assert_int_equal(inc->children[2]->kind, ALIAS_PIPE);
	assert_non_null(inc->children[2]->refused);
	assert_non_null(strstr(inc->children[2]->refused,
	    "only in the system aliases file"));
	assert_non_null(inc->children[3]->refused);
	/* c's pipe is written in the system file: it runs. */
	assert_null(inc->children[4]->children[0]->refused);
	assert_leaves(t, "local:alice address:bob@example.org pipe:/bin/c");
	alias_node_free(t);

	/* An include file the daemon trusts (its owner) may name them. */
	t = aliases_expand(a, "list", NULL, trust_all, NULL);
	assert_leaves(t, "local:alice address:bob@example.org "
	    "pipe:/bin/evil file:/tmp/evil pipe:/bin/c");
	alias_node_free(t);

	t = aliases_expand(a, "list2", NULL, NULL, NULL);
	assert_non_null(t->children[0]->refused);
	assert_non_null(strstr(t->children[0]->refused, "cannot read"));
	assert_leaves(t, "");
	alias_node_free(t);

	t = aliases_expand(a, "list3", NULL, NULL, NULL);
	assert_true(t->children[0]->children[0]->loop);
	alias_node_free(t);

	t = aliases_expand(a, "list4", NULL, NULL, NULL);
	assert_non_null(t->children[0]->refused);
	assert_non_null(strstr(t->children[0]->refused, ":1:"));
	alias_node_free(t);

	aliases_free(a);
	diags_free(&d);
	unlink(inc1);
	unlink(inc2);
	unlink(inc3);
	rmdir(dir);
	free(inc1);
	free(inc2);
	free(inc3);
	free(text);
}

/* ---- errors ---- */

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		int line, col;
		const char *needle;
	} cases[] = {
		{ "foo bar\n", 1, 5, "missing ':'" },
		{ ": x\n", 1, 1, "missing alias name" },
		{ "x:\n", 1, 2, "no targets" },
		{ "x: a b\n", 1, 5, "white space" },
		{ "x: a, \"|cmd\n", 1, 7, "closing" },
		{ "x: a%b@c.example\n", 1, 4, "" },
		{ "x: :include:relative\n", 1, 13, "absolute" },
		{ "ok: a\nx: a,\n  b c\n", 3, 4, "white space" },
		{ "x: \"|\"\n", 1, 4, "empty command" },
		{ "x: \\a@b.example\n", 1, 4, "local name" },
	};

	for (size_t i = 0; i < nitems(cases); i++) {
		struct aliases *a = (void *)1;
		struct diags d = { 0 };
		const struct diag *e = NULL;

		assert_int_equal(aliases_parse("aliases", cases[i].text, &a,
		    &d), -1);
		assert_null(a);
		for (size_t j = 0; j < d.n; j++)
			if (d.v[j].severity == DIAG_ERROR) {
				assert_null(e);
				e = &d.v[j];
			}
		assert_non_null(e);
		if (e->line != cases[i].line || e->col != cases[i].col ||
		    strstr(e->msg, cases[i].needle) == NULL)
			fail_msg("case %zu: %d:%d: %s", i, e->line, e->col,
			    e->msg);
		diags_free(&d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_lines),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
