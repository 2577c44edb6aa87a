/* SPDX-License-Identifier: Apache-2.0 */
/* Where and how one remote's requests go: everything of a remote_write entry that shapes
 * a request (docs/reference/remote-write.md, docs/reference/configuration.md). The sender
 * (remote/sender.c) owns one and runs the retry machine around it. */
#ifndef JP_REMOTE_TARGET_H
#define JP_REMOTE_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util/log.h"

struct jp_rw_target {
	char *name, *url, *user_agent;
	enum jp_rw_protocol proto;        /* in use: 2.0 falls back to 1.0 on HTTP 415 */
	uint64_t timeout_ms;
	char **extra;                     /* "Name: value" (config headers, bearer token) */
	size_t nextra;
	const char **headers;             /* what requests send, NULL-terminated */
	char *username, *password;
	char *password_file, *token_file; /* re-read before each retry (rotated secrets) */
	int auth_header;                  /* index of "Authorization: Bearer" in extra, or -1 */
	char *ca_file, *cert_file, *key_file;
	int insecure;
	struct jp_ratelimit rl_secret;
};

/* Fill *t from rc: copies, the bearer token and the password read from their files
 * (logged and returned as a negative errno when they cannot be read or are malformed);
 * headers that are reserved or malformed are skipped with a warning. Returns 0 or a
 * negative errno; *t is then empty. Free with jp_rw_target_free. */
int jp_rw_target_init(struct jp_rw_target *t, const struct jp_remote_config *rc, const char *user_agent);
void jp_rw_target_free(struct jp_rw_target *t);

/* Use proto's fixed headers (Content-Type, X-Prometheus-Remote-Write-Version). */
void jp_rw_target_set_protocol(struct jp_rw_target *t, enum jp_rw_protocol proto);

/* Re-read the bearer token and the password from their files; a file that cannot be
 * read keeps the value read before (one warning a minute). */
void jp_rw_target_refresh_secrets(struct jp_rw_target *t);

#endif
