/*
 * confdoc: prints the key table of core/config_table.c as the markdown
 * "Keys" section of hikyaku.conf(5). Built and run at build time only, so
 * the man page can never list a key, default or limit the parser does not
 * have (DESIGN §12 "Config keys"). The intro comes from help/hikyaku.conf.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* How a value of each type is written in hikyaku.conf. */
static const char *
type_word(const struct config_key *k)
{
	switch (k->type) {
	case CT_STRING:		return "TEXT";
	case CT_BOOL:		return "yes|no";
	case CT_INT:		return "NUMBER";
	case CT_DURATION:	return "DURATION";
	case CT_SIZE:		return "SIZE";
	case CT_ENUM:		return k->enum_values;
	case CT_LISTEN:		return "ADDR:PORT MODE";
	case CT_PATH:		return "PATH";
	case CT_RATE:		return "COUNT/DURATION";
	}
	return "?";
}

/* A limit in the unit a sysadmin would write: 86400 is "1d", 1024 "1K". */
static void
put_limit(const struct config_key *k, int64_t v)
{
	static const struct { int64_t n; char c; } dur[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
	static const struct { int64_t n; char c; } size[] = {
		{ INT64_C(1) << 30, 'G' }, { 1 << 20, 'M' }, { 1 << 10, 'K' } };
	size_t i;

	if (k->type == CT_DURATION) {
		for (i = 0; i < sizeof dur / sizeof dur[0]; i++)
			if (v >= dur[i].n && v % dur[i].n == 0) {
				printf("%" PRId64 "%c", v / dur[i].n, dur[i].c);
				return;
			}
		printf("%" PRId64 "s", v);
		return;
	}
	if (k->type == CT_SIZE)
		for (i = 0; i < sizeof size / sizeof size[0]; i++)
			if (v >= size[i].n && v % size[i].n == 0) {
				printf("%" PRId64 "%c", v / size[i].n,
				    size[i].c);
				return;
			}
	printf("%" PRId64, v);
}

/* Table cells: a "|" would end the cell, a newline the row. */
static void
put_cell(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '\n')
			putchar(' ');
		else
			putchar(*s);
	}
}

int
main(void)
{
	size_t i;

	puts("## Keys\n");
	puts("| key | meaning |");
	puts("|---|---|");
	for (i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		printf("| `%s = ", k->name);
		put_cell(type_word(k));
		fputs("` | ", stdout);
		put_cell(k->help);
		/* Help sentences that explain their default keep it. */
		if (k->defval[0] != '\0' && strstr(k->help, "Default:") == NULL) {
			fputs(" Default: `", stdout);
			put_cell(k->defval);
			fputs("`.", stdout);
		}
		if ((k->type == CT_INT || k->type == CT_DURATION ||
		    k->type == CT_SIZE) && k->max > 0) {
			fputs(" From ", stdout);
			put_limit(k, k->min);
			fputs(" to ", stdout);
			put_limit(k, k->max);
			putchar('.');
		}
		puts(" |");
	}
	return 0;
}
