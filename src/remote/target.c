/* SPDX-License-Identifier: Apache-2.0 */
/* Where and how one remote's requests go (remote/target.h): URL, the protocol's fixed
 * headers, configured headers, basic auth and bearer token read from files (and re-read
 * before retries, for rotated secrets), TLS files. */
#include "remote/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "util/secret.h"
#include "util/text.h"

#define MOD "sender"

/* docs/reference/remote-write.md fixes these headers for each protocol. */
static const char HDR_ENCODING[] = "Content-Encoding: snappy";
static const char HDR_TYPE_V1[] = "Content-Type: application/x-protobuf";
static const char HDR_VERSION_V1[] = "X-Prometheus-Remote-Write-Version: 0.1.0";
static const char HDR_TYPE_V2[] = "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request";
static const char HDR_VERSION_V2[] = "X-Prometheus-Remote-Write-Version: 2.0.0";



void jp_rw_target_set_protocol(struct jp_rw_target *t, enum jp_rw_protocol proto)
{
	t->proto = proto;
	t->headers[0] = HDR_ENCODING;
	t->headers[1] = proto == JP_RW_V2 ? HDR_TYPE_V2 : HDR_TYPE_V1;
	t->headers[2] = proto == JP_RW_V2 ? HDR_VERSION_V2 : HDR_VERSION_V1;
}

void jp_rw_target_refresh_secrets(struct jp_rw_target *t)
{
	if (t->token_file && t->auth_header >= 0) {
		char *tok = jp_secret_read(t->token_file);
		char *hdr = NULL;
		if (!tok || jp_has_line_break(tok) || asprintf(&hdr, "Authorization: Bearer %s", tok) < 0) {
			hdr = NULL;
			jp_log_rl(&t->rl_secret, JP_LOG_WARN, MOD, "remote %s: cannot re-read bearer_token_file %s: %s (keeping the token read before)",
				  t->name, t->token_file, tok ? "more than one line" : strerror(errno));
		}
		jp_secret_free(tok);
		if (hdr) {
			jp_secret_free(t->extra[t->auth_header]);
			t->extra[t->auth_header] = hdr;
			t->headers[3 + t->auth_header] = hdr;
		}
	}
	if (t->password_file) {
		char *pw = jp_secret_read(t->password_file);
		if (!pw) {
			jp_log_rl(&t->rl_secret, JP_LOG_WARN, MOD, "remote %s: cannot re-read basic_auth password_file %s: %s (keeping the password read before)",
				  t->name, t->password_file, strerror(errno));
		} else {
			jp_secret_free(t->password);
			t->password = pw;
		}
	}
}


static char *dup_or_null(const char *v)
{
	return v && v[0] ? strdup(v) : NULL;
}

/* Copy the config's headers (skipping reserved or malformed ones) and the bearer
 * token into t->extra, then lay out t->headers. */
static int build_headers(struct jp_rw_target *t, const struct jp_remote_config *rc)
{
	t->extra = calloc(rc->headers.n + 1, sizeof(*t->extra));
	if (!t->extra)
		return -ENOMEM;
	for (size_t i = 0; i < rc->headers.n; i++) {
		const struct jp_kv *kv = &rc->headers.v[i];
		if (!kv->key || !kv->key[0] || !kv->value || jp_header_reserved(kv->key) ||
		    strchr(kv->key, ':') || jp_has_line_break(kv->key) || jp_has_line_break(kv->value)) {
			jp_warn(MOD, "remote %s: ignoring header %s: reserved or malformed", t->name,
				kv->key && !jp_has_line_break(kv->key) ? kv->key : "?");
			continue;
		}
		if (asprintf(&t->extra[t->nextra], "%s: %s", kv->key, kv->value) < 0)
			return -ENOMEM;
		t->nextra++;
	}
	if (rc->bearer_token_file && rc->bearer_token_file[0]) {
		char *tok = jp_secret_read(rc->bearer_token_file);
		if (!tok) {
			int e = errno;
			jp_error(MOD, "remote %s: cannot read bearer_token_file %s: %s", t->name,
				 rc->bearer_token_file, strerror(e));
			return -e;
		}
		if (jp_has_line_break(tok)) {
			jp_secret_free(tok);
			jp_error(MOD, "remote %s: bearer_token_file %s holds more than one line",
				 t->name, rc->bearer_token_file);
			return -EINVAL;
		}
		int rcode = asprintf(&t->extra[t->nextra], "Authorization: Bearer %s", tok);
		jp_secret_free(tok);
		if (rcode < 0)
			return -ENOMEM;
		if (!(t->token_file = strdup(rc->bearer_token_file)))
			return -ENOMEM;
		t->auth_header = (int)t->nextra;
		t->nextra++;
	}
	t->headers = calloc(3 + t->nextra + 1, sizeof(*t->headers));
	if (!t->headers)
		return -ENOMEM;
	jp_rw_target_set_protocol(t, t->proto);
	for (size_t i = 0; i < t->nextra; i++)
		t->headers[3 + i] = t->extra[i];
	return 0;
}

int jp_rw_target_init(struct jp_rw_target *t, const struct jp_remote_config *rc, const char *user_agent)
{
	memset(t, 0, sizeof(*t));
	t->auth_header = -1;
	t->rl_secret.interval_ms = 60000;   /* secret files: at most one line a minute */
	t->name = strdup(rc->name);
	t->url = strdup(rc->url);
	t->user_agent = strdup(user_agent ? user_agent : "joulepush");
	if (!t->name || !t->url || !t->user_agent)
		goto nomem;
	t->proto = rc->protocol;
	t->timeout_ms = rc->timeout_ms;
	t->insecure = rc->tls_insecure_skip_verify;
	if ((rc->tls_ca_file && rc->tls_ca_file[0] && !(t->ca_file = strdup(rc->tls_ca_file))) ||
	    (rc->tls_cert_file && rc->tls_cert_file[0] && !(t->cert_file = strdup(rc->tls_cert_file))) ||
	    (rc->tls_key_file && rc->tls_key_file[0] && !(t->key_file = strdup(rc->tls_key_file))))
		goto nomem;
	if (rc->basic_auth_username && rc->basic_auth_username[0]) {
		t->username = dup_or_null(rc->basic_auth_username);
		if (!t->username)
			goto nomem;
		if (rc->basic_auth_password_file && rc->basic_auth_password_file[0]) {
			t->password = jp_secret_read(rc->basic_auth_password_file);
			if (!t->password) {
				int e = errno;
				jp_error(MOD, "remote %s: cannot read basic_auth password_file %s: %s",
					 t->name, rc->basic_auth_password_file, strerror(e));
				jp_rw_target_free(t);
				return -e;
			}
			if (!(t->password_file = strdup(rc->basic_auth_password_file)))
				goto nomem;
		} else if (!(t->password = strdup(""))) {
			goto nomem;
		}
	}
	int r = build_headers(t, rc);
	if (r < 0) {
		if (r == -ENOMEM)
			goto nomem;
		jp_rw_target_free(t);
		return r;
	}
	return 0;
nomem:
	jp_error(MOD, "remote %s: out of memory", rc->name);
	jp_rw_target_free(t);
	return -ENOMEM;
}

void jp_rw_target_free(struct jp_rw_target *t)
{
	for (size_t i = 0; i < t->nextra; i++)
		jp_secret_free(t->extra[i]);
	free(t->extra);
	free(t->headers);
	jp_secret_free(t->password);
	free(t->password_file);
	free(t->token_file);
	free(t->username);
	free(t->name);
	free(t->url);
	free(t->user_agent);
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
	memset(t, 0, sizeof(*t));
	t->auth_header = -1;
}
