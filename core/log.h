/*
 * log: one line per event, to syslog, stderr or a file.
 *
 * Postfix habit: lines about a message start with its queue ID
 * ("6A1F0C2B01: to=<...>, ..."). log_reopen() is what SIGUSR1 calls so
 * logrotate can move a log file away. The log module never allocates on
 * the error path beyond a fixed buffer.
 */
#ifndef HIKYAKU_LOG_H
#define HIKYAKU_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

/*
 * target: "syslog", "stderr" or a file path; ident is the program name.
 * Returns 0, or -1 with errno when a log file cannot be opened (then
 * logging falls back to stderr).
 */
int	 log_init(const char *ident, const char *target);
int	 log_reopen(void);
void	 log_set_debug(int);
int	 log_debug_enabled(void);

void	 log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_vmsg(enum log_level, const char *, va_list);
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
/*
 * An observer sees every line logged at info level or above (the control
 * socket streams them to subscribers). One observer at a time.
 */
typedef void (*log_observer)(enum log_level, const char *line, void *arg);
void	 log_set_observer(log_observer, void *arg);

/* Log and exit(1): for impossible states and start-up failures. */
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
