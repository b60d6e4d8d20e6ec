/*
 * users: the `users` file, SASL accounts for submission (DESIGN §2, §12
 * "SASL").
 *
 * One account per line, fields separated by ':' (never part of base64):
 *
 *   NAME:{SCRAM-SHA-256}ITER,SALT,STOREDKEY,SERVERKEY:{SCRAM-SHA-1}ITER,SALT,STOREDKEY,SERVERKEY
 *
 * each secret exactly as `gsasl --mkpasswd` prints it (base64 salt and
 * keys). The SCRAM-SHA-1 field is optional; without it the account cannot
 * use SCRAM-SHA-1. `#` comments and blank lines are kept by users_set().
 * Promises: no plaintext password is ever stored or kept in memory longer
 * than a call; PLAIN/LOGIN passwords are checked by deriving the SCRAM
 * StoredKey with the stored salt and iterations; users_set() replaces the
 * file atomically, keeping its owner, group and mode (never readable by
 * others).
 */
#ifndef HIKYAKU_USERS_H
#define HIKYAKU_USERS_H

#include <stddef.h>

struct diags;

#define USERS_ITERATIONS	4096	/* DESIGN §12: 1.3 ms per PLAIN check */
#define USERS_SALT_LEN		16	/* raw salt bytes for new secrets */

enum users_hash { USERS_SHA256, USERS_SHA1 };

struct users_secret {
	unsigned	 iter;		/* 0: no such secret */
	char		*salt;		/* base64 */
	char		*stored_key;	/* base64 */
	char		*server_key;	/* base64 */
};

struct users_entry {
	char			*name;
	struct users_secret	 sha256, sha1;
	int			 line;
};

struct users {
	struct users_entry	*v;
	size_t			 n;
};

/*
 * Read path into u. A missing file is an empty table (0). Bad lines are
 * errors in d (file:line:column) and are skipped; returns -1 when any
 * error was found, 0 otherwise. u is always usable afterwards.
 */
int	 users_load(const char *path, struct users *u, struct diags *d);
void	 users_free(struct users *);
const struct users_entry *users_find(const struct users *, const char *name);

/* Is name usable as an account name (printable, no ':' or blanks)? */
int	 users_name_valid(const char *name);

/*
 * Derive a secret from password (SASLprepped when possible) with salt
 * (raw bytes) and iterations; fills out (allocated strings). 0 or -1.
 */
int	 users_secret_make(enum users_hash, const char *password,
	    const char *salt, size_t saltlen, unsigned iter,
	    struct users_secret *out);
void	 users_secret_free(struct users_secret *);

/*
 * 1 when password matches the entry's SCRAM-SHA-256 secret (else its
 * SCRAM-SHA-1 one), 0 otherwise. With e NULL a dummy derivation runs, so
 * an unknown name costs the same time as a wrong password.
 */
int	 users_check_password(const struct users_entry *e,
	    const char *password);

/*
 * Set (password non-NULL: new random salts, USERS_ITERATIONS) or delete
 * (password NULL) name in the file at path, written to a temporary file
 * and renamed over it; owner, group and mode are kept (a new file is
 * 0640), and group/other write and other read are always removed. -1 with
 * *err (allocated), e.g. deleting a name that is not there.
 */
int	 users_set(const char *path, const char *name, const char *password,
	    char **err);

#endif
