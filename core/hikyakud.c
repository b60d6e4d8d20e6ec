/*
 * hikyakud: the relay daemon. Start-up order matters (DESIGN §12
 * "Privileges"): load and validate the config, bind the listeners and
 * create the spool and control sockets as root, fork the pipe launcher
 * (the one process that keeps root, to run pipes as pipe_user), then
 * drop to the unprivileged user for good before touching any mail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "control.h"
#include "dns.h"
#include "event.h"
#include "local.h"
#include "log.h"
#include "privsep.h"
#include "queue.h"
#include "scheduler.h"
#include "smtp_server.h"
#include "tls.h"
#include "util.h"
#include "help/usage.h"

/*
 * Configs replaced by a reload stay allocated until exit: sessions and
 * deliveries still in flight point into them. Reloads are rare and a
 * config is small.
 */
static struct config	**configs;
static size_t		  nconfigs;
static const char	 *confdir;
static int		  debug_mode;
static int		  privileged;	/* started as root: a pipe launcher */

static void
keep_config(struct config *cfg)
{
	configs = xreallocarray(configs, nconfigs + 1, sizeof *configs);
	configs[nconfigs++] = cfg;
}

static void
log_diags(const struct diags *d)
{
	size_t	 i;
	char	*s;

	/* The log line carries the severity already. */
	for (i = 0; i < d->n; i++) {
		s = diag_where(&d->v[i]);
		log_msg(d->v[i].severity == DIAG_ERROR ? LOG_LVL_ERR :
		    LOG_LVL_WARN, "%s: %s", s, d->v[i].msg);
		free(s);
	}
}

/*
 * Validate the config directory again and switch to it if it is good.
 * A refused reload sets *why to its first error (allocated).
 */
static int
reload_config(char **result, char **why)
{
	struct config	*cfg = NULL;
	struct diags	 d;
	struct buf	 b;
	char		*err = NULL, *s;
	size_t		 i;

	memset(&d, 0, sizeof d);
	buf_init(&b);
	if (config_load(confdir, &cfg, &d) == -1 || cfg == NULL) {
		log_diags(&d);
		buf_addstr(&b, "reload failed, keeping the running "
		    "configuration:");
		for (i = 0; i < d.n; i++) {
			if (d.v[i].severity != DIAG_ERROR)
				continue;
			s = diag_format(&d.v[i]);
			buf_printf(&b, "\n%s", s);
			if (*why == NULL)
				*why = s;
			else
				free(s);
		}
		if (*why == NULL)
			*why = xstrdup("the configuration has errors");
		log_err("reload failed: keeping the running configuration");
		diags_free(&d);
		if (cfg != NULL)
			config_free(cfg);
		if (result != NULL)
			*result = buf_take(&b);
		buf_free(&b);
		return (-1);
	}
	log_diags(&d);
	diags_free(&d);
	if (smtp_server_reconfigure(cfg, &err) == -1) {
		log_err("reload: %s; keeping the running configuration", err);
		buf_printf(&b, "reload failed, keeping the running "
		    "configuration: %s", err);
		*why = err;
		config_free(cfg);
		if (result != NULL)
			*result = buf_take(&b);
		buf_free(&b);
		return (-1);
	}
	keep_config(cfg);
	buf_addstr(&b, "configuration reloaded");
	/* The launcher keeps the pipe_user it was started with. */
	if (privileged && strcmp(configs[0]->pipe_user, cfg->pipe_user) != 0) {
		log_warn("pipe_user changed to %s: restart needed; pipes still "
		    "run as %s", cfg->pipe_user, configs[0]->pipe_user);
		buf_printf(&b, "; pipe_user %s needs a restart (pipes run as "
		    "%s)", cfg->pipe_user, configs[0]->pipe_user);
	}
	if (dns_init(cfg->resolver, &err) == -1) {
		log_warn("resolver: %s", err);
		free(err);
	}
	/* CA and CRL files may have changed: read them again on next use. */
	tls_creds_flush();
	queue_configure(cfg->me, cfg->max_message_size);
	sched_reconfigure(cfg);
	control_reconfigure(cfg);
	log_info("configuration reloaded from %s", confdir);
	if (result != NULL)
		*result = buf_take(&b);
	buf_free(&b);
	return (0);
}

/*
 * Tell systemd about our state (sd_notify(3): newline-separated
 * assignments in one datagram), when it asked through $NOTIFY_SOCKET.
 */
static void
notify_send(const char *msg)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path))) == -1)
		log_warn("NOTIFY_SOCKET: %s", strerror(errno));
	close(fd);
}

/*
 * A reload starts (Type=notify-reload wants RELOADING=1 with the time it
 * began, no earlier than the SIGHUP systemd sent) and ends: the daemon
 * is ready again whether the new configuration was taken or refused.
 */
static void
notify_reloading(void)
{
	struct timespec	 ts;
	char		*msg;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	xasprintf(&msg, "RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	notify_send(msg);
	free(msg);
}

/* why: the first error of a refused reload, or NULL when it was taken. */
static void
notify_reloaded(const char *why)
{
	char	*msg, *nl;

	if (why == NULL) {
		/* An empty STATUS= clears what an earlier refusal said. */
		notify_send("READY=1\nSTATUS=");
		return;
	}
	xasprintf(&msg, "READY=1\nSTATUS=reload refused: %s", why);
	/* A newline would start another assignment. */
	while ((nl = strchr(msg + strlen("READY=1\n"), '\n')) != NULL)
		*nl = ' ';
	notify_send(msg);
	free(msg);
}

static int
reload(char **result, void *arg)
{
	char	*why = NULL;
	int	 rc;

	notify_reloading();
	rc = reload_config(result, &why);
	notify_reloaded(why);
	free(why);
	return (rc);
}

static void
on_sighup(void *arg)
{
	reload(NULL, NULL);
}

static void
on_sigusr1(void *arg)
{
	if (log_reopen() == -1)
		log_err("cannot reopen log file: %s", strerror(errno));
}

static void
on_sigterm(void *arg)
{
	log_info("stopping on signal");
	ev_break();
}


/* A listener must never become fd 0, 1 or 2 (DESIGN §12 test hygiene). */
static void
sanitize_std_fds(void)
{
	int	 fd, i;

	for (i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) != -1)
			continue;
		if ((fd = open("/dev/null", O_RDWR)) == -1)
			exit(1);
		if (fd != i) {
			dup2(fd, i);
			close(fd);
		}
	}
}

static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
daemonize(void)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	setsid();
	if ((pid = fork()) == -1)
		fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/*
 * -bh: the session state machine on stdin/stdout, as the invoking user;
 * logs go to stderr with -d only (the ">>> " lines say the same).
 */
static int
test_session(const char *ip, const char *user, const char *mode_name)
{
	struct config	*cfg = NULL;
	struct diags	 d;
	enum listen_mode mode = LISTEN_RELAY;
	char		*err = NULL;
	int		 rc;

	if (mode_name != NULL && strcmp(mode_name, "submission") == 0)
		mode = LISTEN_SUBMISSION;
	else if (mode_name != NULL && strcmp(mode_name, "relay") != 0) {
		fprintf(stderr, "hikyakud: -m is relay or submission\n");
		return (2);
	}
	memset(&d, 0, sizeof d);
	if (config_load(confdir, &cfg, &d) == -1 || cfg == NULL) {
		diags_print(&d, stderr);
		fprintf(stderr, "hikyakud: configuration in %s has errors\n",
		    confdir);
		diags_free(&d);
		return (1);
	}
	diags_free(&d);
	log_set_debug(debug_mode);
	log_init("hikyakud", debug_mode ? "stderr" : "/dev/null");
	signal(SIGPIPE, SIG_IGN);
	ev_init();
	rc = smtp_server_test_session(cfg, ip, user, mode, 0, 1, &err);
	if (rc == -1) {
		fprintf(stderr, "hikyakud: -bh: %s\n", err);
		free(err);
	}
	config_free(cfg);
	ev_done();
	return (rc == -1 ? 1 : 0);
}

int
main(int argc, char **argv)
{
	struct config	*cfg = NULL;
	struct diags	 d;
	char		*err = NULL;
	uid_t		 uid;
	gid_t		 gid;
	int		 ch, foreground = 0;
	size_t		 i;
	const char	*test_ip = NULL, *test_user = NULL, *test_mode = NULL;

	sanitize_std_fds();
	/* getopt knows no long options: --help, as every program takes it. */
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage_hikyakud, stdout);
		return (0);
	}
	while ((ch = getopt(argc, argv, "a:b:C:dfhm:V")) != -1) {
		switch (ch) {
		case 'a':
			test_user = optarg;
			break;
		case 'b':
			/* exim's spelling: -bh IP */
			if (strcmp(optarg, "h") != 0 || optind >= argc) {
				fputs(usage_hikyakud, stderr);
				return (2);
			}
			test_ip = argv[optind++];
			break;
		case 'm':
			test_mode = optarg;
			break;
		case 'C':
			confdir = optarg;
			break;
		case 'd':
			debug_mode = 1;
			foreground = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			fputs(usage_hikyakud, stdout);
			return (0);
		case 'V':
			printf("hikyakud %s\n", PACKAGE_VERSION);
			return (0);
		default:
			fputs(usage_hikyakud, stderr);
			return (2);
		}
	}
	if (optind != argc || ((test_user != NULL || test_mode != NULL) &&
	    test_ip == NULL)) {
		fputs(usage_hikyakud, stderr);
		return (2);
	}
	if (confdir == NULL)
		confdir = config_default_dir();
	if (test_ip != NULL)
		return (test_session(test_ip, test_user, test_mode));

	memset(&d, 0, sizeof d);
	if (config_load(confdir, &cfg, &d) == -1 || cfg == NULL) {
		diags_print(&d, stderr);
		fprintf(stderr, "hikyakud: configuration in %s has errors; "
		    "not starting\n", confdir);
		return (1);
	}
	diags_print(&d, stderr);
	diags_free(&d);
	keep_config(cfg);

	log_set_debug(debug_mode);
	if (log_init("hikyakud", debug_mode ? "stderr" : cfg->log) == -1)
		fprintf(stderr, "hikyakud: cannot open log %s: %s (logging "
		    "to stderr)\n", cfg->log, strerror(errno));
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	privileged = geteuid() == 0;
	if (privileged) {
		if (cfg->user == NULL || cfg->user[0] == '\0' ||
		    strcmp(cfg->user, "root") == 0)
			fatal("refusing to run as root: set user = NAME in "
			    "%s/hikyaku.conf", confdir);
		if (privsep_lookup_user(cfg->user, &uid, &gid, &err) == -1)
			fatal("%s", err);
	} else {
		uid = getuid();
		gid = getgid();
	}

	ev_init();
	if (smtp_server_listen(cfg, &err) == -1)
		fatal("%s", err);
	if (queue_open(cfg->spool, uid, gid, &err) == -1)
		fatal("%s", err);
	if (control_listen(cfg, uid, gid, &err) == -1)
		fatal("%s", err);
	if (!foreground)
		daemonize();
	/* After daemonize, so the launcher is our child and dies with us. */
	if (local_pipe_init(privileged, cfg->pipe_user, &err) == -1)
		fatal("%s", err);
	if (privileged && strcmp(cfg->pipe_user, cfg->user) == 0)
		log_warn("pipe_user is user (%s): pipes can read the daemon's "
		    "secrets and reach its control socket; set pipe_user to "
		    "another account (the default is nobody)", cfg->user);
	if (privileged && privsep_drop(cfg->user, &err) == -1)
		fatal("%s", err);

	if (dns_init(cfg->resolver, &err) == -1)
		fatal("resolver: %s", err);
	queue_configure(cfg->me, cfg->max_message_size);
	if (sched_init(cfg) == -1)
		fatal("cannot read the queue in %s", cfg->spool);
	control_set_reload_hook(reload, NULL);
	smtp_server_start();
	control_start();
	if (queue_maildrop_watch(&err) == -1) {
		log_warn("maildrop: %s", err);
		free(err);
		err = NULL;
	}
	queue_maildrop_scan();
	ev_signal(SIGHUP, on_sighup, NULL);
	ev_signal(SIGUSR1, on_sigusr1, NULL);
	ev_signal(SIGTERM, on_sigterm, NULL);
	ev_signal(SIGINT, on_sigterm, NULL);

	log_info("started: hikyaku %s, config %s, spool %s, %zu remote%s",
	    PACKAGE_VERSION, confdir, cfg->spool, cfg->nremotes,
	    cfg->nremotes == 1 ? "" : "s");
	notify_send("READY=1");
	ev_run();

	smtp_server_shutdown();
	control_shutdown();
	/* Commits still syncing finish and reach the scheduler first. */
	queue_close();
	sched_shutdown();
	dns_shutdown();
	tls_creds_flush();
	log_info("stopped");
	for (i = 0; i < nconfigs; i++)
		config_free(configs[i]);
	free(configs);
	ev_done();
	return (0);
}
