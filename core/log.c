/*
 * log: one line per event, to syslog, stderr or a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

static enum log_target	 log_target = LOG_TO_STDERR;
static char		 log_ident[32] = "hikyaku";
static char		*log_path;
static int		 log_fd = -1;
static int		 log_debugging;
static log_observer	 log_obs;
static void		*log_obs_arg;

static int
log_open_file(void)
{
	int	 fd;

	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return (-1);
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return (0);
}

int
log_init(const char *ident, const char *target)
{
	snprintf(log_ident, sizeof log_ident, "%s", ident);
	free(log_path);
	log_path = NULL;
	if (log_fd != -1) {
		close(log_fd);
		log_fd = -1;
	}
	if (target == NULL || strcmp(target, "stderr") == 0) {
		log_target = LOG_TO_STDERR;
		return (0);
	}
	if (strcmp(target, "syslog") == 0) {
		log_target = LOG_TO_SYSLOG;
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		return (0);
	}
	if ((log_path = strdup(target)) == NULL)
		return (-1);
	log_target = LOG_TO_FILE;
	if (log_open_file() == -1) {
		log_target = LOG_TO_STDERR;
		return (-1);
	}
	return (0);
}

int
log_reopen(void)
{
	if (log_target != LOG_TO_FILE)
		return (0);
	return (log_open_file());
}

void
log_set_debug(int on)
{
	log_debugging = on;
}

int
log_debug_enabled(void)
{
	return (log_debugging);
}

void
log_set_observer(log_observer obs, void *arg)
{
	log_obs = obs;
	log_obs_arg = arg;
}

static const char *
log_level_word(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_DEBUG:
		return ("debug: ");
	case LOG_LVL_WARN:
		return ("warning: ");
	case LOG_LVL_ERR:
		return ("error: ");
	default:
		return ("");
	}
}

void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char		 msg[4096], line[4400], stamp[32];
	struct timespec	 ts;
	struct tm	 tm;
	int		 saved = errno, n;

	if (lvl == LOG_LVL_DEBUG && !log_debugging)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (lvl != LOG_LVL_DEBUG && log_obs != NULL)
		log_obs(lvl, msg, log_obs_arg);
	switch (log_target) {
	case LOG_TO_SYSLOG:
		syslog(prio[lvl], "%s%s", log_level_word(lvl), msg);
		break;
	case LOG_TO_FILE:
	case LOG_TO_STDERR:
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line, sizeof line, "%s.%03ld %s[%ld]: %s%s\n",
		    stamp, ts.tv_nsec / 1000000, log_ident, (long)getpid(),
		    log_level_word(lvl), msg);
		if (n < 0)
			break;
		if ((size_t)n >= sizeof line)
			n = sizeof line - 1;
		if (write(log_target == LOG_TO_FILE ? log_fd : STDERR_FILENO,
		    line, (size_t)n) == -1)
			break;
		break;
	}
	errno = saved;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
