/*
 * privsep: dropping root for good and judging who can read a secret.
 *
 * Promises (DESIGN §12 Privileges): started as root the daemon drops to
 * `user` with its supplementary groups and proves it cannot regain root;
 * started unprivileged it stays so. Secret files are judged for the user
 * that will read them with stat() and that user's groups, never with
 * access() as root, and every warning carries the exact command that
 * fixes it.
 */
#ifndef HIKYAKU_PRIVSEP_H
#define HIKYAKU_PRIVSEP_H

#include <sys/types.h>

struct diags;

/* 0, or -1 with *err (allocated) naming the fix when the user is missing. */
int	 privsep_lookup_user(const char *name, uid_t *, gid_t *, char **err);

/*
 * As root: initgroups, setgid, setuid to `user`, then check that neither
 * uid nor gid 0 can be regained. Not root: nothing to do, success.
 * Refuses to keep root when user is NULL, empty or resolves to uid 0.
 */
int	 privsep_drop(const char *user, char **err);

/*
 * Warn (into d, naming path) when others may read the secret, or when
 * `user` cannot read it; user NULL means the calling process's own
 * credentials. `what` names the secret in the message ("remotes with
 * --pass"). Returns 0 when nothing was wrong, -1 when a warning was added.
 * A missing file is a warning too.
 */
int	 privsep_check_secret(const char *path, const char *user,
	    struct diags *d, const char *what);

#endif
