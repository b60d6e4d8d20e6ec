/*
 * aliases: the /etc/aliases format and its expansion into a tree.
 *
 * Promises: "name: target, target..." with continuation lines (leading
 * white space), quoted targets, addresses, bare local names, "\name"
 * (deliver to name, no further aliasing, as sendmail), /path (append),
 * "|command" (pipe), :include:/path and /dev/null, parsed as sendmail
 * does. Expansion never recurses forever: loops are flagged, depth is
 * capped, and a name that lists itself ("root: root, /var/mail/root") is
 * delivered locally, sendmail's meaning, not a loop. File and pipe
 * targets are honoured only from the system aliases file: from an
 * :include: file they are refused with the reason unless the caller's
 * check trusts that file's owner (DESIGN §12 "Local delivery"). Every
 * node names the file:line that produced it.
 */
#ifndef HIKYAKU_ALIASES_H
#define HIKYAKU_ALIASES_H

#include <stddef.h>

struct diags;

enum alias_kind {
	ALIAS_ADDRESS,		/* user@domain */
	ALIAS_LOCAL,		/* a local name (to be aliased again) */
	ALIAS_FILE,		/* /path: append mbox */
	ALIAS_PIPE,		/* |command */
	ALIAS_INCLUDE,		/* :include:/path */
	ALIAS_DEVNULL		/* /dev/null */
};

struct alias_target {
	enum alias_kind	 kind;
	char		*value;		/* address, name, path or command */
	int		 noalias;	/* \name: deliver, do not alias */
	int		 line, col;	/* where it is written */
};

struct alias {
	char			*name;		/* lower case */
	int			 line;
	struct alias_target	*targets;
	size_t			 ntargets;
};

struct aliases {
	char		*file;
	struct alias	*v;
	size_t		 n;
};

int	 aliases_parse(const char *file, const char *text,
	    struct aliases **out, struct diags *d);
int	 aliases_load(const char *path, struct aliases **out,
	    struct diags *d);
void	 aliases_free(struct aliases *);
/* ASCII case-insensitive, as sendmail folds alias names. */
const struct alias *aliases_lookup(const struct aliases *, const char *name);

/*
 * Parse the body of an :include: file (targets separated by commas or
 * lines). Exported so config check and the console validate them too.
 */
int	 aliases_parse_targets(const char *file, const char *text,
	    struct alias_target **out, size_t *n, struct diags *d);
void	 alias_targets_free(struct alias_target *, size_t);

#define ALIASES_MAX_DEPTH	20

struct alias_node {
	enum alias_kind	 kind;
	char		*target;	/* address, name, path or command */
	/* The line whose target list holds this node (file NULL: root). */
	const char	*file;
	int		 line;
	/* The alias entry that expanded this node (line 0: not aliased). */
	const char	*alias_file;
	int		 alias_line;
	struct alias_node **children;
	size_t		 nchildren;
	int		 loop;		/* already being expanded above */
	int		 self;		/* lists its own alias: deliver */
	/* Not delivered, with the reason (refused file/pipe, unreadable
	   include, too deep); NULL when fine. */
	char		*refused;
};

/* Is domain one of ours (local-host-names)? */
typedef int (*aliases_local_fn)(const char *domain, void *arg);
/*
 * May file and pipe targets in this :include: file run? The daemon
 * answers from the file's owner; NULL refuses them all.
 */
typedef int (*aliases_include_fn)(const char *path, void *arg);

/*
 * Expand name (a local name, no domain) into a tree rooted at name. A
 * name without an alias gives a root without children. Addresses in a
 * local domain are aliased by their local part. Never NULL.
 */
struct alias_node *aliases_expand(const struct aliases *, const char *name,
	    aliases_local_fn is_local, aliases_include_fn include_trusted,
	    void *arg);
void	 alias_node_free(struct alias_node *);
/*
 * The final destinations: leaves that are delivered (address, local,
 * file, pipe, /dev/null), in tree order, duplicates dropped, refused and
 * looping nodes left out. The array (caller frees it, not the nodes)
 * points into the tree.
 */
const struct alias_node **alias_node_leaves(const struct alias_node *,
	    size_t *n);
const char *alias_kind_str(enum alias_kind);

#endif
