/* ticketfile.c — reads --ticket-key-file with the checks a file of secrets deserves. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ticketfile.h"

/* Why open() failed, and the fix. */
static int open_error(const char *path, int e, const char *user, const char *group, char *err,
		      size_t errlen)
{
	if (e == ELOOP)
		snprintf(err, errlen,
			 "ticket key file %s is a symbolic link: name the file itself (a secret is "
			 "read from no other path than the one given)",
			 path);
	else if (e == ENOENT)
		snprintf(err, errlen,
			 "cannot read ticket key file %s: %s (make one: openssl rand 80 > %s; "
			 "chmod 0600 %s)",
			 path, strerror(e), path, path);
	else if (user && (e == EACCES || e == EPERM))
		snprintf(err, errlen,
			 "cannot read ticket key file %s as %s: %s (the run user must be able to "
			 "read it: chown %s %s; chmod 0600 %s, or chgrp %s %s; chmod 0640 %s)",
			 path, user, strerror(e), user, path, path, group, path, path);
	else if (e == EACCES || e == EPERM)
		snprintf(err, errlen,
			 "cannot read ticket key file %s: %s (dropcap reads it at start, and as "
			 "the run user on SIGHUP: chown that user and chmod 0600, or chgrp its "
			 "group and chmod 0640)",
			 path, strerror(e));
	else
		snprintf(err, errlen, "cannot read ticket key file %s: %s", path, strerror(e));
	return -1;
}

/* Regular, whole keys, not too many, and private: group read is allowed (root-owned and
 * readable by the run user's group, as the TLS key is deployed), any access for others or
 * group write is refused, as OpenSSH refuses an unprotected key. */
static int check(const char *path, const struct stat *st, char *err, size_t errlen)
{
	long long size = (long long)st->st_size;

	if (!S_ISREG(st->st_mode))
		snprintf(err, errlen,
			 "ticket key file %s is not a regular file: give a file of 80-byte keys "
			 "(openssl rand 80 > FILE)",
			 path);
	else if (st->st_mode & 0037)
		snprintf(err, errlen,
			 "ticket key file %s has mode %04o: it decrypts every session ticket, so "
			 "no other user may read it and only its owner write it: chmod 0600 %s "
			 "(or 0640 with the run user's group)",
			 path, (unsigned)(st->st_mode & 07777), path);
	else if (size == 0 || size % TICKETFILE_KEY_LEN != 0)
		snprintf(err, errlen,
			 "ticket key file %s has %lld bytes: it must hold whole 80-byte keys "
			 "(80, 160, ...), the first for new tickets: openssl rand 80 > %s",
			 path, size, path);
	else if (size > TICKETFILE_MAX_KEYS * TICKETFILE_KEY_LEN)
		snprintf(err, errlen,
			 "ticket key file %s holds %lld keys, more than %d: keep the newest few",
			 path, size / TICKETFILE_KEY_LEN, TICKETFILE_MAX_KEYS);
	else
		return 0;
	return -1;
}

int ticketfile_read(const char *path, const char *user, const char *group, unsigned char *buf,
		    size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	size_t cap = TICKETFILE_MAX_KEYS * TICKETFILE_KEY_LEN;
	struct stat st;
	ssize_t r = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		/* the sandbox lets files be read, not directories: say what the path is */
		if (fd < 0 && e == EACCES && lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
			return check(path, &st, err, errlen);
		return open_error(path, e, user, group, err, errlen);
	}
	if (check(path, &st, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	for (*len = 0; *len < cap && (r = read(fd, buf + *len, cap - *len)) > 0;)
		*len += (size_t)r;
	close(fd);
	if (r < 0)
		return open_error(path, errno, user, group, err, errlen);
	if (*len == (size_t)st.st_size)
		return 0;
	snprintf(err, errlen,
		 "ticket key file %s changed while it was read: write the new file beside it and "
		 "rename it over the old one",
		 path);
	return -1;
}
