/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The grid sources (docs/carbon.md "Sources"): one table row per provider, in the provider's
 * own file. A row says what the provider needs from the configuration, how to build its
 * live request and read the answer, and how its forecast is fetched: one or more documents
 * in a row, each built and parsed in turn. Rows are pure: no I/O, no timers, no logging.
 * carbon/fetch.c runs them (timer, tokens, redaction, 429s, steps, the file watch);
 * carbon/intensity.c and carbon/forecaster.c use what they produce.
 *
 * A new source is one file with one row, and one line in jp_providers (carbon/provider.c).
 */
#ifndef JP_CARBON_PROVIDER_H
#define JP_CARBON_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "carbon/factors.h"
#include "carbon/forecast.h"
#include "config.h"

struct jp_carbon_series;

/* What a provider takes from the configuration, copied by setup. */
struct jp_provider_conf {
	char *url;              /* the API's base URL */
	char *token_file;       /* read afresh for every refresh; NULL: the API takes none */
	char *zone;             /* ENTSO-E area, Electricity Maps zone, UK region ("": national) */
	char *file_path;        /* the file source */
	char *user_file, *password_file;   /* a login's credentials, read afresh for each login */
	char *signal_type;      /* WattTime's signal */
	const char *signal;     /* "average" or "marginal" (static string) */
	unsigned forecast_docs; /* documents a forecast refresh asks for (the row's, or more) */
	int surplus;            /* carbon.forecast.surplus: the surplus documents too */
	char grid_zone[64];     /* the grid_zone label */
	uint64_t max_age_ms;    /* carbon.max_age: how far back a live request looks */
	struct jp_factors factors;
};

/* Beside an intensity forecast, what a provider may forecast of the grid's green surplus
 * (carbon.forecast.surplus): wind and solar generation and the load, in MW, and the
 * day-ahead price per MWh in currency. Series without points are not known. */
struct jp_grid_extra {
	struct jp_forecast renewables, load, price;
	char currency[4];
};

/* A request a provider builds. url and header may hold the token: they are never logged,
 * and are wiped when freed; log_url is the same URL with the token redacted. */
struct jp_provider_req {
	char *url, *log_url;
	char *header;           /* one extra request header, or NULL */
	char *user, *password;  /* HTTP basic authentication (a login), or NULL */
};

/* A live answer, filled by the documents of a refresh in turn. */
struct jp_live {
	double g_per_kwh;
	int64_t data_ms;        /* the time the value is for (its end, where it has one) */
	int has_mix;            /* ENTSO-E: the generation mix behind it */
	struct jp_mix mix;
	double renewable;
	double carbon_free;     /* share of generation that is renewable or nuclear, 0..1;
	                           negative when the source did not say */
	double signal_index;    /* where the intensity ranks among recent ones, 0..1 (WattTime's
	                           signal index); negative when the source did not say */
	char note[256];         /* something worth an info line (rejected series), or "" */
};

enum {
	JP_PROVIDER_TOKEN = 1,    /* reads conf.token_file before each refresh */
	JP_PROVIDER_ACK_400 = 2,  /* an HTTP 400 carries a document worth parsing */
	JP_PROVIDER_FILE = 4,     /* a local file, not HTTP */
	JP_PROVIDER_LOGIN = 8,    /* a session token from a login, passed as the token */
};

struct jp_provider {
	const char *name;            /* the source label and the config value */
	enum jp_carbon_source id;
	unsigned flags;
	size_t max_bytes;            /* the largest answer accepted */

	/* Copy what the provider needs from cfg into c (url, token_file, zone, grid_zone, and
	 * signal when it is not "average").
	 * Returns 0, or -EINVAL with why filled for a value it cannot use. NULL: nothing. */
	int (*setup)(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen);

	/* The live intensity: live_docs documents a refresh (0 counts as 1), built by
	 * live_request at now_ms (token: the one read, or NULL) and read by live_parse (status
	 * 2xx, or 400 with JP_PROVIDER_ACK_400) into *out, which starts with carbon_free -1.
	 * Document 0 carries the intensity: parse returns 0, -ENODATA for a "no data" answer,
	 * another negative errno for a failure, why saying why. The documents after it only
	 * add to it (the carbon-free share): when one fails, the refresh keeps what the ones
	 * before gave. NULL: no live source of this kind (file, static). */
	unsigned live_docs;
	int (*live_request)(const struct jp_provider_conf *c, const char *token, int64_t now_ms, unsigned doc,
			    struct jp_provider_req *rq);
	int (*live_parse)(const struct jp_provider_conf *c, long status, unsigned doc, const void *body, size_t len,
			  struct jp_live *out, char *why, size_t whylen);

	/* The forecast: conf.forecast_docs documents a refresh (forecast_docs of the row unless
	 * setup asks for more), fetched in order. request builds
	 * document doc; parse reads it into scratch (forecast_scratch bytes, zeroed at the
	 * start of a refresh, freed with scratch_free) and, for the last one, adds the points
	 * to *out (not normalised) with *skipped counting points left out. parse returns 0, or
	 * a negative errno with why filled. forecast_method: the label method of
	 * joulepush_grid_forecast_info; NULL when the provider has no forecast. */
	const char *forecast_method;
	unsigned forecast_docs;
	size_t forecast_scratch;
	int (*forecast_request)(const struct jp_provider_conf *c, const char *token, int64_t now_ms, unsigned doc,
				struct jp_provider_req *rq);
	int (*forecast_parse)(const struct jp_provider_conf *c, void *scratch, unsigned doc, const void *body,
			      size_t len, struct jp_forecast *out, size_t *skipped, char *why, size_t whylen);
	void (*scratch_free)(void *scratch);
	/* The surplus series a refresh gathered in scratch, for the owner to take (it may move
	 * the series out). NULL: the provider forecasts no surplus. */
	struct jp_grid_extra *(*scratch_extra)(void *scratch);

	/* A login (JP_PROVIDER_LOGIN): the request with the credentials read from the conf's
	 * files, and the session token of its answer (malloc'd) with how long it lasts. The
	 * session is renewed a tenth of its life before it ends, and at once after an HTTP 401.
	 * Returns as the parse functions. */
	int (*login_request)(const struct jp_provider_conf *c, const char *user, const char *password,
			     struct jp_provider_req *rq);
	int (*login_parse)(const void *body, size_t len, char **session, uint64_t *ttl_ms, char *why, size_t whylen);

	/* The file source's read (JP_PROVIDER_FILE): returns as jp_carbon_file_load. */
	int (*read)(const char *path, struct jp_carbon_series *out, char *why, size_t whylen);
};

/* The row of a source, or NULL (JP_CARBON_NONE, or out of range). */
const struct jp_provider *jp_provider_get(enum jp_carbon_source id);

/* Fill c for provider p from cfg (setup, then factors and max_age). Returns 0, or a
 * negative errno with why filled. Free with jp_provider_conf_free. */
int jp_provider_conf_init(const struct jp_provider *p, const struct jp_config *cfg, struct jp_provider_conf *c,
			  char *why, size_t whylen);
void jp_provider_conf_free(struct jp_provider_conf *c);

/* Free a request's strings, wiping the URL and the header first. */
void jp_provider_req_free(struct jp_provider_req *rq);

/* Fill rq with url (taken; it holds no secret) and, when header and token are given, the
 * header "<header>: <token>". Returns 0, or -ENOMEM with rq freed. */
int jp_provider_req_set(struct jp_provider_req *rq, char *url, const char *header, const char *token);

/* Copy s ("" for NULL): a helper for setup. Returns 0 or -ENOMEM. */
int jp_provider_dup(char **dst, const char *s);

/* The rows, one per provider file. */
extern const struct jp_provider jp_provider_static, jp_provider_entsoe, jp_provider_electricitymaps,
	jp_provider_ukci, jp_provider_file, jp_provider_watttime;


#endif
