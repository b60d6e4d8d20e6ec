/*
 * util: memory, strings and small helpers shared by every program.
 *
 * Allocation never returns NULL: on failure the process logs and exits
 * (a mail relay that cannot allocate cannot keep any promise anyway).
 * struct buf is a growable byte buffer, always NUL-terminated.
 */
#ifndef HIKYAKU_UTIL_H
#define HIKYAKU_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list);

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	 buf_init(struct buf *);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_add(struct buf *, const void *, size_t);
/* Make room for n more bytes after len (without changing len). */
void	 buf_reserve(struct buf *, size_t);
void	 buf_addstr(struct buf *, const char *);
void	 buf_addch(struct buf *, char);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(struct buf *, const char *, va_list);
/* Remove the first n bytes. */
void	 buf_consume(struct buf *, size_t);
/* Hand the data to the caller (who frees it) and reset the buffer. */
char	*buf_take(struct buf *);

/* ASCII-only case helpers: SMTP and DNS are ASCII, locale must not matter. */
int	 ascii_strcasecmp(const char *, const char *);
int	 ascii_strncasecmp(const char *, const char *, size_t);
void	 ascii_lower(char *);
/*
 * Does hay hold needle, ignoring ASCII case? needle must be lower case
 * and not empty. Fast on long haystacks: candidates are found with
 * strpbrk, which the C library vectorises, where strcasestr is not.
 */
int	 ascii_contains(const char *hay, const char *needle);
/*
 * Length (1-4) of the well-formed UTF-8 sequence at p, reading at most
 * avail bytes (a NUL ends a string early anyway), or 0: overlongs,
 * surrogates and code points past U+10FFFF are refused, so nothing
 * downstream sees ambiguous bytes.
 */
size_t	 utf8_seq_len(const unsigned char *p, size_t avail);
/* Split line in place at spaces and tabs into at most max words. */
size_t	 split_words(char *line, char **w, size_t max);
/* Skip spaces and tabs. */
const char *skip_ws(const char *);
/* Trim trailing spaces, tabs, CR and LF in place. */
void	 rtrim(char *);

/*
 * Durations ("30", "30s", "5m", "2h", "5d") in seconds and sizes ("10M",
 * "512K", "1024") in bytes. Return 0 on success, -1 with *err set to a
 * static message.
 */
int	 parse_duration(const char *, int64_t *, const char **err);
int	 parse_size(const char *, int64_t *, const char **err);
/* Format seconds as "3d4h", "5m", "12s" (for ages and delays). */
void	 format_duration(int64_t, char *, size_t);

/*
 * RFC 5322 date ("Sun, 22 Nov 2026 16:55:44 +0900") in local time, with
 * day and month names that no locale changes.
 */
void	 format_rfc5322_date(int64_t t, char *out, size_t len);
/* Free n strings and the array holding them. */
void	 strv_free(char **v, size_t n);

/* Monotonic and wall clock in milliseconds. */
uint64_t now_monotonic_ms(void);
int64_t	 now_wall_ms(void);

/* Descriptor helpers. */
int	 set_nonblock(int);
int	 set_cloexec(int);
/* Write all of buf, retrying on EINTR; -1 with errno on failure. */
int	 write_all(int, const void *, size_t);
/* Read a whole small file into a NUL-terminated string; NULL with errno. */
char	*read_file(const char *, size_t *);
/* fsync the directory holding path (after a rename or create). */
int	 fsync_parent_dir(const char *);
/*
 * Replace path with contents atomically: temp file in the same directory,
 * fsync, rename, fsync the directory. Keeps mode 'mode'. -1 with errno.
 */
int	 write_file_atomic(const char *, const void *, size_t, mode_t);

#endif
