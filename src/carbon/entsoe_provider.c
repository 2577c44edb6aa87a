/* SPDX-License-Identifier: Apache-2.0 */
/* The ENTSO-E provider row (carbon/provider.h): requests and answers of the live mix (A75)
 * and of the day-ahead forecast (A75, A69, A71); the documents are read by carbon/entsoe.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/entsoe.h"
#include "carbon/forecast.h"
#include "carbon/provider.h"

#define HOUR_MS 3600000LL

static int entsoe_setup(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	snprintf(c->grid_zone, sizeof(c->grid_zone), "%s", cfg->entsoe_area ? cfg->entsoe_area : "");
	if (c->surplus)
		c->forecast_docs = 5;   /* and A65, A44 */
	if (jp_provider_dup(&c->url, cfg->entsoe_url) || jp_provider_dup(&c->token_file, cfg->entsoe_token_file) ||
	    jp_provider_dup(&c->zone, cfg->entsoe_area))
		return -ENOMEM;
	return 0;
}

/* Two URLs: with the token, and with "REDACTED" in its place (the one to log). */
static int entsoe_req(const struct jp_provider_conf *c, const char *doc, const char *proc, const char *token,
		      int64_t from, int64_t to, struct jp_provider_req *rq)
{
	rq->url = jp_entsoe_url_doc(c->url, doc, proc, c->zone, token, from, to);
	rq->log_url = jp_entsoe_url_doc(c->url, doc, proc, c->zone, NULL, from, to);
	if (!rq->url || !rq->log_url) {
		jp_provider_req_free(rq);
		return -ENOMEM;
	}
	return 0;
}

/* The actual mix over the window that can still hold fresh data, in whole hours. */
static int entsoe_live_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms, unsigned doc,
			       struct jp_provider_req *rq)
{
	(void)doc;
	int64_t back = (int64_t)c->max_age_ms < 24 * HOUR_MS ? (int64_t)c->max_age_ms : 24 * HOUR_MS;
	return entsoe_req(c, "A75", "A16", token, (now_ms - back) / HOUR_MS * HOUR_MS,
			  now_ms / HOUR_MS * HOUR_MS + HOUR_MS, rq);
}

/* An Acknowledgement may come with 200 or 400 (docs/carbon.md): reason 999 with 200 is "no
 * matching data"; with 400 it is a request that cannot be served (a mistyped area, a bad
 * parameter), a configuration error. */
static int entsoe_live_parse(const struct jp_provider_conf *c, long status, unsigned doc, const void *body, size_t len,
			     struct jp_live *out, char *why, size_t whylen)
{
	(void)doc;
	struct jp_entsoe_result res;
	int k = jp_entsoe_parse(body, len, &res);
	if (res.skipped_series)
		snprintf(out->note, sizeof(out->note), "%u of %u series rejected: %s", res.skipped_series, res.series,
			 res.reason);
	else if (res.negative_points || res.nan_points)
		snprintf(out->note, sizeof(out->note), "%u negative quantities taken as 0 MW, %u NaN points left out",
			 res.negative_points, res.nan_points);
	if (k == -ENODATA && status == 400) {
		snprintf(why, whylen, "HTTP 400: %s (check carbon.entsoe.area and the token)", res.reason);
		return -EINVAL;
	}
	if (k == -ENODATA) {
		snprintf(why, whylen, "%s", res.reason);
		return -ENODATA;
	}
	if (k || status != 200) {
		snprintf(why, whylen, "HTTP %ld: %s", status, k ? res.reason : "not a generation document");
		return k ? k : -EINVAL;
	}
	if (jp_factors_intensity(&c->factors, &res.mix, &out->g_per_kwh, &out->renewable)) {
		snprintf(why, whylen, "the newest complete point has no generation");
		return -ENODATA;
	}
	out->mix = res.mix;
	out->has_mix = 1;
	out->data_ms = res.end_ms;
	if (jp_mix_carbon_free_ratio(&res.mix, &out->carbon_free))
		out->carbon_free = -1;
	return 0;
}

/* A forecast refresh is three documents (docs/carbon.md "Forecasts"): A75, the actual mix
 * of the last day (for the factor of what is not wind or solar); A69, the wind and solar
 * forecast; A71, the total generation forecast. With carbon.forecast.surplus two more: A65,
 * the load forecast, and A44, the day-ahead prices ("Green surplus"). */
static const char *const entsoe_docs[5][3] = {
	{"A75", "A16", "A75 (actual generation)"},
	{"A69", "A01", "A69 (wind and solar forecast)"},
	{"A71", "A01", "A71 (generation forecast)"},
	{"A65", "A01", "A65 (load forecast)"},
	{"A44", NULL, "A44 (day-ahead prices)"},
};

struct entsoe_scratch {
	double ef_rest;
	struct jp_forecast ws[JP_PSR_MAX + 1];   /* A71 in ws[0], A69 in ws[16], ws[18], ws[19] */
	struct jp_forecast fc;                   /* the intensity forecast, once A71 is read */
	struct jp_grid_extra extra;
};

static int entsoe_forecast_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms,
				   unsigned doc, struct jp_provider_req *rq)
{
	int64_t hour = now_ms / HOUR_MS * HOUR_MS;
	int64_t from = doc == 0 ? hour - 24 * HOUR_MS : hour;
	int64_t to = doc == 0 ? hour + HOUR_MS : hour + 48 * HOUR_MS;
	return entsoe_req(c, entsoe_docs[doc][0], entsoe_docs[doc][1], token, from, to, rq);
}

/* The sum of the given step series where at least one has a value, split wherever one of
 * them changes: wind and solar together. Adds to *out and normalises it. */
static int step_sum(const struct jp_forecast *const *in, int n, struct jp_forecast *out)
{
	size_t total = 0;
	for (int k = 0; k < n; k++)
		total += 2 * in[k]->n;
	int64_t *b = total ? malloc(total * sizeof(*b)) : NULL;
	if (total && !b)
		return -ENOMEM;
	size_t nb = 0;
	for (int k = 0; k < n; k++)
		for (size_t i = 0; i < in[k]->n; i++) {
			b[nb++] = in[k]->v[i].start_ms;
			b[nb++] = in[k]->v[i].end_ms;
		}
	for (size_t i = 1; i < nb; i++)   /* insertion sort: a few hundred boundaries */
		for (size_t j = i; j > 0 && b[j - 1] > b[j]; j--) {
			int64_t t = b[j];
			b[j] = b[j - 1];
			b[j - 1] = t;
		}
	int r = 0;
	for (size_t i = 0; r == 0 && i + 1 < nb; i++) {
		if (b[i] == b[i + 1])
			continue;
		double sum = 0, v;
		int any = 0;
		for (int k = 0; k < n; k++)
			if (jp_forecast_at(in[k], b[i], &v) == 0) {
				sum += v;
				any = 1;
			}
		if (any)
			r = jp_forecast_add(out, b[i], b[i + 1], sum);
	}
	free(b);
	return r ? r : jp_forecast_normalize(out, NULL);
}

static int entsoe_forecast_parse(const struct jp_provider_conf *c, void *scratch, unsigned doc, const void *body,
				 size_t len, struct jp_forecast *out, size_t *skipped, char *why, size_t whylen)
{
	struct entsoe_scratch *s = scratch;
	struct jp_entsoe_result res;
	int pr;
	*skipped = 0;
	if (doc == 0) {
		pr = jp_entsoe_parse(body, len, &res);
		if (pr == 0 && jp_factors_rest(&c->factors, &res.mix, &s->ef_rest))
			pr = -ENODATA;
	} else if (doc == 3) {
		pr = jp_entsoe_parse_load(body, len, &s->extra.load, &res);
	} else if (doc == 4) {
		pr = jp_entsoe_parse_prices(body, len, &s->extra.price, &res);
		snprintf(s->extra.currency, sizeof(s->extra.currency), "%s", res.currency);
	} else {
		pr = jp_entsoe_parse_series(body, len, s->ws, &res);
	}
	if (pr) {
		snprintf(why, whylen, "ENTSO-E %s: %s", entsoe_docs[doc][2],
			 pr == -ENOMEM ? "out of memory" : res.reason[0] ? res.reason : "no data");
		return pr;
	}
	if (doc == 2) {
		if (!s->ws[0].n) {
			snprintf(why, whylen, "ENTSO-E A71 has no total generation series");
			return -ENODATA;
		}
		int r = jp_entsoe_forecast_build(&s->ws[0], s->ws, &c->factors, s->ef_rest, &s->fc);
		if (r)
			return r;
		if (c->surplus) {
			const struct jp_forecast *ren[3] = {&s->ws[16], &s->ws[18], &s->ws[19]};
			if ((r = step_sum(ren, 3, &s->extra.renewables)))
				return r;
		}
	}
	if (doc + 1 < c->forecast_docs)
		return 0;
	/* The last document: the intensity forecast goes out. */
	*out = s->fc;
	s->fc = (struct jp_forecast){0};
	return 0;
}

static void entsoe_scratch_free(void *scratch)
{
	struct entsoe_scratch *s = scratch;
	for (int p = 0; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&s->ws[p]);
	jp_forecast_free(&s->fc);
	jp_forecast_free(&s->extra.renewables);
	jp_forecast_free(&s->extra.load);
	jp_forecast_free(&s->extra.price);
}

static struct jp_grid_extra *entsoe_scratch_extra(void *scratch)
{
	struct entsoe_scratch *s = scratch;
	return s->extra.renewables.n || s->extra.load.n || s->extra.price.n ? &s->extra : NULL;
}

const struct jp_provider jp_provider_entsoe = {
	.name = "entsoe",
	.id = JP_CARBON_ENTSOE,
	.flags = JP_PROVIDER_TOKEN | JP_PROVIDER_ACK_400,
	.max_bytes = JP_ENTSOE_MAX_BYTES,
	.setup = entsoe_setup,
	.live_request = entsoe_live_request,
	.live_parse = entsoe_live_parse,
	.forecast_method = "entsoe_day_ahead",
	.forecast_docs = 3,
	.forecast_scratch = sizeof(struct entsoe_scratch),
	.forecast_request = entsoe_forecast_request,
	.forecast_parse = entsoe_forecast_parse,
	.scratch_free = entsoe_scratch_free,
	.scratch_extra = entsoe_scratch_extra,
};
