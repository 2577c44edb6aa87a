/* SPDX-License-Identifier: Apache-2.0 */
/* The table of grid sources (carbon/provider.h) and what every row shares. */
#include "carbon/provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct jp_provider *const jp_providers[JP_CARBON_NSOURCES] = {
	[JP_CARBON_STATIC] = &jp_provider_static,
	[JP_CARBON_ENTSOE] = &jp_provider_entsoe,
	[JP_CARBON_ELECTRICITYMAPS] = &jp_provider_electricitymaps,
	[JP_CARBON_UKCI] = &jp_provider_ukci,
	[JP_CARBON_FILE] = &jp_provider_file,
	[JP_CARBON_WATTTIME] = &jp_provider_watttime,
};


const struct jp_provider *jp_provider_get(enum jp_carbon_source id)
{
	return (unsigned)id < JP_CARBON_NSOURCES ? jp_providers[id] : NULL;
}

int jp_provider_dup(char **dst, const char *s)
{
	*dst = strdup(s ? s : "");
	return *dst ? 0 : -ENOMEM;
}

int jp_provider_conf_init(const struct jp_provider *p, const struct jp_config *cfg, struct jp_provider_conf *c,
			  char *why, size_t whylen)
{
	memset(c, 0, sizeof(*c));
	c->max_age_ms = cfg->carbon_max_age_ms;
	if (jp_factors_init(&c->factors, cfg->carbon_factors_direct, &cfg->carbon_factor_overrides)) {
		snprintf(why, whylen, "carbon.factors: not a PsrType code or not a number >= 0");
		return -EINVAL;
	}
	snprintf(c->grid_zone, sizeof(c->grid_zone), "%s", p->name);
	c->signal = "average";
	c->forecast_docs = p->forecast_docs;
	c->surplus = cfg->forecast_surplus;
	int r = p->setup ? p->setup(cfg, c, why, whylen) : 0;
	if (r == -ENOMEM)
		snprintf(why, whylen, "out of memory");
	if (r)
		jp_provider_conf_free(c);
	else if (!c->grid_zone[0])
		snprintf(c->grid_zone, sizeof(c->grid_zone), "unknown");
	return r;
}

void jp_provider_conf_free(struct jp_provider_conf *c)
{
	free(c->url);
	free(c->token_file);
	free(c->zone);
	free(c->file_path);
	free(c->user_file);
	free(c->password_file);
	free(c->signal_type);
	c->url = c->token_file = c->zone = c->file_path = c->user_file = c->password_file = c->signal_type = NULL;
}

static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void jp_provider_req_free(struct jp_provider_req *rq)
{
	wipe_free(rq->url);
	wipe_free(rq->header);
	wipe_free(rq->user);
	wipe_free(rq->password);
	free(rq->log_url);
	rq->url = rq->header = rq->log_url = rq->user = rq->password = NULL;
}

/* carbon.source: static: carbon.grams_per_kwh, no fetch. */
const struct jp_provider jp_provider_static = {
	.name = "static",
	.id = JP_CARBON_STATIC,
};

int jp_provider_req_set(struct jp_provider_req *rq, char *url, const char *header, const char *token)
{
	rq->url = url;
	rq->log_url = url ? strdup(url) : NULL;
	if (header && token && asprintf(&rq->header, "%s: %s", header, token) < 0)
		rq->header = NULL;
	if (!rq->url || !rq->log_url || (header && token && !rq->header)) {
		jp_provider_req_free(rq);
		return -ENOMEM;
	}
	return 0;
}
