/*
 * tester_rl: readline completion of SMTP verbs and local commands.
 */
#include <stdio.h>
#include <string.h>

#include <readline/readline.h>

#include "tester_rl.h"
#include "util.h"

/* Verbs end in a space or colon already, so nothing is appended. */
static const char *const smtp_verbs[] = {
	"HELO ", "EHLO ", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP",
	"QUIT", "STARTTLS", "AUTH ", "VRFY ", "EXPN ", "HELP", NULL,
};

static const char *const *local_cmds;

static const char *
candidate(size_t i)
{
	size_t	 n;

	for (n = 0; smtp_verbs[n] != NULL; n++)
		if (i == n)
			return (smtp_verbs[n]);
	return (local_cmds != NULL ? local_cmds[i - n] : NULL);
}

static char *
verb_generator(const char *text, int state)
{
	static size_t	 i;
	size_t		 n = strlen(text);
	const char	*v;

	if (state == 0)
		i = 0;
	while ((v = candidate(i)) != NULL) {
		i++;
		if (ascii_strncasecmp(v, text, n) == 0)
			return (xstrdup(v));
	}
	return (NULL);
}

static char **
complete(const char *text, int start, int end)
{
	rl_attempted_completion_over = 1;
	rl_completion_append_character = '\0';
	return (start == 0 ? rl_completion_matches(text, verb_generator) :
	    NULL);
}

void
tester_rl_completion(const char *const *local)
{
	local_cmds = local;
	rl_attempted_completion_function = complete;
}
