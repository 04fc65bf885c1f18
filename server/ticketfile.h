/* ticketfile.h — reading --ticket-key-file: whole 80-byte keys (nginx's ssl_session_ticket_key
 * layout: a 16-byte name, then 64 secret bytes), from a private regular file. libc only: the
 * TLS module turns the bytes into keys. */
#ifndef DROPCAP_TICKETFILE_H
#define DROPCAP_TICKETFILE_H

#include <stddef.h>

#define TICKETFILE_KEY_LEN 80
#define TICKETFILE_MAX_KEYS 32

/* Reads path (not through a symlink) into buf, which holds TICKETFILE_MAX_KEYS keys; *len is
 * then a multiple of TICKETFILE_KEY_LEN. The file must be regular, with no access for others
 * and no group write (0600 or 0640). user/group name the reading user in a reload (NULL at
 * start), for the message and its fix. Returns 0, or -1 with err naming the file, the problem
 * and the fix. Blocks on one small local file. */
int ticketfile_read(const char *path, const char *user, const char *group, unsigned char *buf,
		    size_t *len, char *err, size_t errlen);

#endif
