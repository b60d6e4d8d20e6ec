/*
 * ctl_client: blocking client of the control protocol. See ctl_client.h.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ctl_client.h"
#include "envelope.h"
#include "json.h"
#include "util.h"

struct ctl_client {
	int		 fd;
	int64_t		 next_id;
	struct buf	 in;		/* bytes read, not yet split */
	/* Event lines that arrived while waiting for a response. */
	char		**pending;
	size_t		 npending;
};

char *
ctl_client_socket_path(const struct config *cfg)
{
	char *p;

	if (cfg->control_socket && *cfg->control_socket)
		return xstrdup(cfg->control_socket);
	xasprintf(&p, "%s/%s", cfg->spool, CONTROL_SOCKET_NAME);
	return p;
}

char *
ctl_client_public_path(const struct config *cfg)
{
	char *p;

	xasprintf(&p, "%s/%s", cfg->spool, CONTROL_PUBLIC_SOCKET_NAME);
	return p;
}

/* One line from the socket (allocated, without its newline). */
static char *
read_line(struct ctl_client *c, int timeout_ms, char **err)
{
	char *nl, *line, chunk[65536];
	struct pollfd pfd;
	ssize_t n;
	int r;

	*err = NULL;
	for (;;) {
		if (c->in.len > 0 &&
		    (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
			line = xstrndup(c->in.data, nl - c->in.data);
			buf_consume(&c->in, nl - c->in.data + 1);
			return line;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, timeout_ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			xasprintf(err, "poll: %s", strerror(errno));
			return NULL;
		}
		if (r == 0)
			return NULL;
		n = read(c->fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(err, "reading from the daemon: %s",
			    strerror(errno));
			return NULL;
		}
		if (n == 0) {
			*err = xstrdup("the daemon closed the connection");
			return NULL;
		}
		buf_add(&c->in, chunk, n);
	}
}

struct ctl_client *
ctl_client_open(const char *path, int *down, char **err)
{
	struct ctl_client *c;
	struct sockaddr_un sun;
	struct json_value *g;
	char *line, *perr = NULL;
	const char *refusal;
	int fd, version;

	*down = 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		xasprintf(err, "%s: socket path longer than %zu bytes", path,
		    sizeof(sun.sun_path) - 1);
		return NULL;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(err, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			*down = 1;
			xasprintf(err, "the daemon is not running (%s: %s)",
			    path, strerror(errno));
		} else if (errno == EACCES || errno == EPERM) {
			xasprintf(err, "%s: %s (root, the daemon's user and "
			    "members of its group may use it)", path,
			    strerror(errno));
		} else {
			xasprintf(err, "%s: %s", path, strerror(errno));
		}
		close(fd);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->next_id = 1;
	buf_init(&c->in);
	if (!(line = read_line(c, 10000, &perr))) {
		xasprintf(err, "%s: no greeting from the daemon%s%s", path,
		    perr ? ": " : "", perr ? perr : " (timeout)");
		free(perr);
		ctl_client_close(c);
		return NULL;
	}
	g = json_parse(line, strlen(line), &perr);
	free(line);
	if (!g || !json_get_str(g, "hikyaku") ||
	    strcmp(json_get_str(g, "hikyaku"), "control") != 0) {
		xasprintf(err, "%s: not a hikyaku control socket", path);
		free(perr);
		json_free(g);
		ctl_client_close(c);
		return NULL;
	}
	version = (int)json_get_int(g, "version", 0);
	refusal = json_get_str(g, "error");
	if (refusal) {
		xasprintf(err, "%s: the daemon refused us: %s", path, refusal);
	} else if (version != CONTROL_PROTOCOL_VERSION) {
		xasprintf(err, "%s: the daemon speaks control protocol "
		    "version %d, this program version %d (upgrade both "
		    "together)", path, version, CONTROL_PROTOCOL_VERSION);
	}
	json_free(g);
	if (refusal || version != CONTROL_PROTOCOL_VERSION) {
		ctl_client_close(c);
		return NULL;
	}
	return c;
}

void
ctl_client_close(struct ctl_client *c)
{
	size_t i;

	if (!c)
		return;
	close(c->fd);
	buf_free(&c->in);
	for (i = 0; i < c->npending; i++)
		free(c->pending[i]);
	free(c->pending);
	free(c);
}

char *
ctl_client_call(struct ctl_client *c, const char *cmd, const char *members,
    char **err)
{
	struct buf req;
	struct json_value *v;
	char *line, *perr;
	int64_t id = c->next_id++;
	int match;

	*err = NULL;
	buf_init(&req);
	buf_printf(&req, "{\"id\":%lld,\"cmd\":", (long long)id);
	json_escape(&req, cmd, strlen(cmd));
	buf_printf(&req, "%s}\n", members ? members : "");
	if (write_all(c->fd, req.data, req.len) == -1) {
		xasprintf(err, "writing to the daemon: %s", strerror(errno));
		buf_free(&req);
		return NULL;
	}
	buf_free(&req);
	for (;;) {
		if (!(line = read_line(c, -1, err)))
			return NULL;
		perr = NULL;
		v = json_parse(line, strlen(line), &perr);
		free(perr);
		match = v && json_get(v, "event") == NULL &&
		    json_get_int(v, "id", -1) == id;
		json_free(v);
		if (match)
			return line;
		/* A subscription event (or a stray line): keep it. */
		c->pending = xreallocarray(c->pending, c->npending + 1,
		    sizeof(*c->pending));
		c->pending[c->npending++] = line;
	}
}

char *
ctl_client_next_line(struct ctl_client *c, int timeout_ms, char **err)
{
	char *line;

	*err = NULL;
	if (c->npending > 0) {
		line = c->pending[0];
		memmove(c->pending, c->pending + 1,
		    (c->npending - 1) * sizeof(*c->pending));
		c->npending--;
		return line;
	}
	return read_line(c, timeout_ms, err);
}

/* The queue ID a maildrop file name starts with, into qid. */
static const char *
qid_from_name(const char *name, char *qid)
{
	memcpy(qid, name, QID_LEN);
	qid[QID_LEN] = '\0';
	return qid;
}

/* Queue IDs sort by arrival, so name order is queue order. */
static int
spool_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The envelope part of a maildrop file into env: read until its "end"
 * line, never the whole message. 0, or -1 (unreadable or not yet valid).
 */
static int
maildrop_read_env(const char *path, struct envelope *env, int64_t *size,
    int64_t *mtime)
{
	struct stat st;
	struct buf b;
	char chunk[8192], *err = NULL;
	size_t off = 0;
	ssize_t r;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	buf_init(&b);
	if (fstat(fd, &st) == 0) {
		while ((r = read(fd, chunk, sizeof(chunk))) > 0) {
			buf_add(&b, chunk, (size_t)r);
			if (memmem(b.data, b.len, "\nend\n", 5) != NULL)
				break;
		}
		if (b.len > 0 && maildrop_parse(b.data, b.len, env, &off,
		    &err) == 0) {
			*size = (int64_t)st.st_size - (int64_t)off;
			*mtime = (int64_t)st.st_mtime;
			rc = 0;
		}
	}
	free(err);
	buf_free(&b);
	close(fd);
	return rc;
}

/*
 * Mail injected while the daemon is down waits in maildrop/ (as Postfix's
 * showq lists its maildrop): each file as a message object under the ID
 * its name starts with, state "maildrop". Only root and the daemon's
 * group can list the 1733 directory; others see just the queue.
 */
static void
spool_read_maildrop(const char *spool, const char *only_qid,
    struct json_writer *w)
{
	struct envelope env;
	struct dirent *de;
	char *dir, *path, **names = NULL, qid[QID_LEN + 1];
	int64_t size, mtime;
	size_t n = 0, i, j;
	DIR *d;

	xasprintf(&dir, "%s/%s", spool, SPOOL_MAILDROP_DIR);
	if (!(d = opendir(dir))) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		/* "ID.RANDOM"; tmp.* files are still being written. */
		if (strlen(de->d_name) <= QID_LEN ||
		    de->d_name[QID_LEN] != '.')
			continue;
		if (!qid_valid(qid_from_name(de->d_name, qid)) ||
		    (only_qid && strcmp(qid, only_qid) != 0))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), spool_cmp);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		envelope_init(&env);
		if (maildrop_read_env(path, &env, &size, &mtime) == 0) {
			json_obj_begin(w);
			json_kv_str(w, "qid", qid_from_name(names[i], qid));
			json_kv_str(w, "sender", env.sender ? env.sender : "");
			json_kv_int(w, "arrival", mtime);
			json_kv_int(w, "size", size);
			json_kv_bool(w, "held", 0);
			json_kv_str(w, "state", "maildrop");
			json_key(w, "recipients");
			json_arr_begin(w);
			for (j = 0; j < env.nrcpt; j++) {
				json_obj_begin(w);
				json_kv_str(w, "addr", env.rcpts[j].addr);
				json_kv_str(w, "state", "pending");
				json_obj_end(w);
			}
			json_arr_end(w);
			json_obj_end(w);
		}
		envelope_free(&env);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
}

struct json_value *
ctl_client_spool_read(const struct config *cfg, const char *only_qid,
    char **errp)
{
	struct json_value *v;
	struct json_writer w;
	struct envelope env;
	struct buf b;
	struct dirent *de;
	char *dir, *path, **names = NULL, *err = NULL, *first = NULL;
	size_t n = 0, i, len, bad = 0;
	DIR *d;

	*errp = NULL;
	xasprintf(&dir, "%s/%s", cfg->spool, SPOOL_QUEUE_DIR);
	if (!(d = opendir(dir))) {
		xasprintf(errp, "cannot read the spool: %s: %s", dir,
		    strerror(errno));
		free(dir);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != QID_LEN + 4 || strcmp(de->d_name + QID_LEN, ".env"))
			continue;
		if (only_qid && strncmp(de->d_name, only_qid, QID_LEN) != 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), spool_cmp);
	buf_init(&b);
	json_writer_init(&w, &b);
	json_arr_begin(&w);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		envelope_init(&env);
		/* A file may vanish or be half-written under a running
		   delivery: skip it, as mailq does. */
		if (envelope_read_file(path, &env, &err) == 0) {
			control_json_envelope(&w, &env, 1);
		} else if (errno != ENOENT) {
			if (bad++ == 0)
				xasprintf(&first, "%s: %s", path, err);
		}
		free(err);
		err = NULL;
		envelope_free(&env);
		free(path);
		free(names[i]);
	}
	spool_read_maildrop(cfg->spool, only_qid, &w);
	json_arr_end(&w);
	free(names);
	free(dir);
	if (bad == 1)
		*errp = first;
	else if (bad > 1) {
		xasprintf(errp, "%s (and %zu more unreadable queue files)",
		    first, bad - 1);
		free(first);
	}
	v = json_parse(b.data, b.len, &err);
	if (!v) {
		free(*errp);
		xasprintf(errp, "internal error reading the spool: %s", err);
		free(err);
	}
	buf_free(&b);
	return v;
}

int
ctl_client_dsn_wait_text(const struct json_value *m, int64_t now,
    struct buf *b)
{
	const char *rate = json_get_str(m, "dsn_wait_rate");
	int64_t until = json_get_int(m, "dsn_wait_until", 0);
	char when[32];

	if (!rate)
		return 0;
	if (until > now) {
		format_duration(until - now, when, sizeof(when));
		buf_printf(b, "waits for dsn_rate (%s), next in %s", rate,
		    when);
	} else {
		buf_printf(b, "waits for dsn_rate (%s), next due", rate);
	}
	return 1;
}
