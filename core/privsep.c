/*
 * privsep: user lookup, dropping root, and judging secret files for the
 * user that will read them.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "privsep.h"
#include "util.h"

int
privsep_lookup_user(const char *name, uid_t *uid, gid_t *gid, char **err)
{
	struct passwd *pw;

	errno = 0;
	if (name == NULL || *name == '\0') {
		xasprintf(err, "no user configured (set user = NAME in "
		    "hikyaku.conf)");
		return -1;
	}
	if ((pw = getpwnam(name)) == NULL) {
		if (errno != 0)
			xasprintf(err, "looking up user %s: %s", name,
			    strerror(errno));
		else
			xasprintf(err, "no such user %s (create it: useradd "
			    "--system --home-dir /nonexistent --shell "
			    "/usr/sbin/nologin %s)", name, name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
privsep_drop(const char *user, char **err)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (privsep_lookup_user(user, &uid, &gid, err) == -1)
		return -1;
	if (uid == 0) {
		xasprintf(err, "refusing to run as root: user = %s is uid 0; "
		    "set user to an unprivileged account", user);
		return -1;
	}
	if (initgroups(user, gid) == -1) {
		xasprintf(err, "initgroups %s: %s", user, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		xasprintf(err, "setresgid %lu: %s", (unsigned long)gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
		xasprintf(err, "setresuid %lu: %s", (unsigned long)uid,
		    strerror(errno));
		return -1;
	}
	/* Prove the drop is for good: none of these may succeed now. */
	if (setuid(0) == 0 || seteuid(0) == 0 || geteuid() == 0 ||
	    getuid() == 0 || (gid != 0 && (setgid(0) == 0 ||
	    getegid() == 0))) {
		xasprintf(err, "could regain root after dropping to %s", user);
		return -1;
	}
	return 0;
}

/* The credentials a reader has: uid, primary gid, supplementary groups. */
struct reader {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	*groups;
	int	 ngroups;
	char	*name;
};

static int
reader_load(struct reader *r, const char *user, char **err)
{
	struct passwd *pw;

	memset(r, 0, sizeof(*r));
	if (user == NULL) {
		r->uid = geteuid();
		r->gid = getegid();
		r->ngroups = getgroups(0, NULL);
		if (r->ngroups < 0)
			r->ngroups = 0;
		r->groups = xreallocarray(NULL, (size_t)r->ngroups + 1,
		    sizeof(gid_t));
		r->ngroups = getgroups(r->ngroups, r->groups);
		if (r->ngroups < 0)
			r->ngroups = 0;
		pw = getpwuid(r->uid);
		if (pw != NULL)
			r->name = xstrdup(pw->pw_name);
		else
			xasprintf(&r->name, "%lu", (unsigned long)r->uid);
		return 0;
	}
	if (privsep_lookup_user(user, &r->uid, &r->gid, err) == -1)
		return -1;
	r->name = xstrdup(user);
	r->ngroups = 16;
	r->groups = xreallocarray(NULL, (size_t)r->ngroups, sizeof(gid_t));
	if (getgrouplist(user, r->gid, r->groups, &r->ngroups) == -1) {
		/* ngroups now holds the size needed. */
		r->groups = xreallocarray(r->groups, (size_t)r->ngroups,
		    sizeof(gid_t));
		if (getgrouplist(user, r->gid, r->groups, &r->ngroups) == -1)
			r->ngroups = 0;
	}
	return 0;
}

static int
reader_in_group(const struct reader *r, gid_t g)
{
	if (r->gid == g)
		return 1;
	for (int i = 0; i < r->ngroups; i++)
		if (r->groups[i] == g)
			return 1;
	return 0;
}

/* Read permission as the kernel judges it for r (root reads anything). */
static int
reader_can_read(const struct reader *r, uid_t owner, gid_t group,
    mode_t mode)
{
	if (r->uid == 0)
		return 1;
	if (r->uid == owner)
		return (mode & S_IRUSR) != 0;
	if (reader_in_group(r, group))
		return (mode & S_IRGRP) != 0;
	return (mode & S_IROTH) != 0;
}

static char *
group_name(gid_t g)
{
	struct group *gr = getgrgid(g);
	char *s;

	if (gr != NULL)
		return xstrdup(gr->gr_name);
	xasprintf(&s, "%lu", (unsigned long)g);
	return s;
}

static char *
owner_name(uid_t u)
{
	struct passwd *pw = getpwuid(u);
	char *s;

	if (pw != NULL)
		return xstrdup(pw->pw_name);
	xasprintf(&s, "%lu", (unsigned long)u);
	return s;
}

int
privsep_check_secret(const char *path, const char *user, struct diags *d,
    const char *what)
{
	struct reader r;
	struct stat st;
	mode_t mode, want;
	int world, readable, need_chgrp = 0;
	char *err = NULL, *owner, *group, *fix;

	if (stat(path, &st) == -1) {
		diags_add(d, path, 0, 0, DIAG_WARNING, "%s: %s", what,
		    strerror(errno));
		return -1;
	}
	if (reader_load(&r, user, &err) == -1) {
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s: cannot judge who may read it: %s", what, err);
		free(err);
		return -1;
	}
	mode = st.st_mode & 07777;
	world = (mode & S_IROTH) != 0;
	readable = reader_can_read(&r, st.st_uid, st.st_gid, mode);
	if (!world && readable) {
		free(r.groups);
		free(r.name);
		return 0;
	}

	/*
	 * The fix: take read (and write) away from others; if the reader
	 * then cannot read the file, give it the reader's primary group
	 * with group read (the 0640 root:hikyaku layout of DESIGN §12).
	 */
	want = mode & ~(mode_t)S_IRWXO;
	if (!reader_can_read(&r, st.st_uid, st.st_gid, want)) {
		if (r.uid == st.st_uid)
			want |= S_IRUSR;
		else {
			need_chgrp = !reader_in_group(&r, st.st_gid);
			want |= S_IRGRP;
			want &= ~(mode_t)S_IWGRP;
		}
	}
	owner = owner_name(st.st_uid);
	group = group_name(st.st_gid);
	if (need_chgrp) {
		char *g = group_name(r.gid);

		xasprintf(&fix, "chgrp %s %s && chmod %04o %s", g, path,
		    (unsigned)want, path);
		free(g);
	} else
		xasprintf(&fix, "chmod %04o %s", (unsigned)want, path);

	if (!readable)
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s is not readable by user %s (owner %s:%s, mode %04o)%s; "
		    "fix: %s", what, r.name, owner, group, (unsigned)mode,
		    world ? " and is readable by everyone" : "", fix);
	else
		diags_add(d, path, 0, 0, DIAG_WARNING,
		    "%s is readable by everyone (owner %s:%s, mode %04o); "
		    "fix: %s", what, owner, group, (unsigned)mode, fix);
	free(fix);
	free(owner);
	free(group);
	free(r.groups);
	free(r.name);
	return -1;
}
