/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one fetch machine of every grid source, live and forecast (docs/carbon.md "Sources",
 * "Rate limits"). It alone owns the refresh timer, the token (read afresh for each refresh,
 * wiped after it), redaction of everything it reports, the 429/Retry-After rule
 * (carbon/retry.h), the documents of a multi-document refresh, and the file watch. What a
 * provider's answer means is the provider row's (carbon/provider.h); what is done with it
 * is the owner's (carbon/intensity.c, carbon/forecaster.c).
 */
#ifndef JP_CARBON_FETCH_H
#define JP_CARBON_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "carbon/provider.h"
#include "remote/http.h"

struct jp_fetch;

enum jp_fetch_kind { JP_FETCH_LIVE, JP_FETCH_FORECAST };

/* The outcome of one refresh. */
enum jp_fetch_outcome {
	JP_FETCH_OK,          /* the owner took a value */
	JP_FETCH_NODATA,      /* the source answered "no data" */
	JP_FETCH_FAILED,      /* an error: HTTP, parse, token, the owner refused */
	JP_FETCH_UNCHANGED,   /* the file has not changed since it was read */
};

/* What a refresh produced, for the owner's take. */
struct jp_fetch_result {
	const struct jp_live *live;            /* a live answer */
	struct jp_forecast *forecast;          /* forecast points (the owner may take them) */
	size_t skipped;                        /* forecast points the provider left out */
	struct jp_carbon_series *series;       /* the file's new contents (the owner may take them) */
	struct jp_grid_extra *extra;           /* a forecast's surplus series, or NULL (may be taken) */
};

struct jp_fetch_ops {
	/* Use what a refresh produced. Returns 0, -ENODATA, or another negative errno; why
	 * says why when not 0. */
	int (*take)(void *owner, struct jp_fetch_result *res, char *why, size_t whylen);
	/* After every refresh, with why redacted ("" for OK and UNCHANGED). */
	void (*done)(void *owner, enum jp_fetch_outcome outcome, const char *why);
};

struct jp_fetch_stats {
	uint64_t requests;        /* HTTP requests started, or file reads */
	uint64_t successes;       /* refreshes that produced a value */
	uint64_t no_data;         /* "no data" answers */
	uint64_t failures;        /* failed refreshes */
	uint64_t rate_limited;    /* HTTP 429 answers */
	uint64_t next_delay_ms;   /* the delay last scheduled */
};

/* Start fetching provider p (conf c, not owned: it must outlive the fetch) every
 * refresh_ms; the first refresh runs on the next loop iteration. An HTTP provider refreshes
 * every refresh_ms (after 429s: jp_carbon_retry_delay_ms); the file source looks at the
 * file every min(refresh_ms, 10 s) and reads it when its mtime, size or inode changed.
 * Returns NULL with errno set (EINVAL: p has nothing of that kind to fetch). */
struct jp_fetch *jp_fetch_create(uv_loop_t *loop, struct jp_http *http, const struct jp_provider *p,
				 const struct jp_provider_conf *c, enum jp_fetch_kind kind, uint64_t refresh_ms,
				 const struct jp_fetch_ops *ops, void *owner);

void jp_fetch_stats(const struct jp_fetch *f, struct jp_fetch_stats *out);

/* Cancel any transfer, stop the timer and free; closed(arg) runs once the handle is
 * closed. A second close does nothing. NULL is accepted (closed runs at once). */
void jp_fetch_close(struct jp_fetch *f, void (*closed)(void *arg), void *arg);

/* The transport and the wall clock, replaceable for tests (a fake fetch without sockets,
 * at a fixed time); NULL restores jp_http_start, jp_http_cancel and jp_now_wall_ms. Not
 * thread-safe: set it before creating fetches. */
struct jp_fetch_transport {
	struct jp_http_xfer *(*start)(struct jp_http *h, const struct jp_http_request *req, jp_http_done_cb cb,
				      void *arg);
	void (*cancel)(struct jp_http_xfer *x);
	int64_t (*now_ms)(void);
};
void jp_fetch_set_transport(const struct jp_fetch_transport *t);

/* The wall time requests are built for and answers judged by, in ms. */
int64_t jp_fetch_now(void);

#endif
