/*
 * usage: the --help texts of hikyakud, hikyaku-sendmail, hikyaku and its
 * subcommands. help/usage.awk generates them at build time from the
 * Synopsis sections of the markdown files in help/ (Makefile.am says which
 * file and command each comes from), so a synopsis is written once for --help and the man
 * pages. Each is whole lines ending in a newline, printed as is.
 */
#ifndef HIKYAKU_USAGE_H
#define HIKYAKU_USAGE_H

extern const char usage_hikyakud[];		/* hikyakud -h */
extern const char usage_sendmail[];		/* hikyaku-sendmail --help */
extern const char usage_hikyaku[];		/* hikyaku --help */
extern const char usage_queue[];
extern const char usage_reload[];
extern const char usage_status[];
extern const char usage_config_check[];
extern const char usage_trace[];
extern const char usage_trace_session[];
extern const char usage_smtp[];
extern const char usage_tls_check[];
extern const char usage_cert[];
extern const char usage_passwd[];
extern const char usage_selftest[];
extern const char usage_import[];

#endif
