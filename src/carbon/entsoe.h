/* SPDX-License-Identifier: Apache-2.0 */
/* ENTSO-E Transparency Platform: the A75 "actual generation per production type" request
 * and its GL_MarketDocument / Acknowledgement_MarketDocument answers (docs/carbon.md). */
#ifndef JP_CARBON_ENTSOE_H
#define JP_CARBON_ENTSOE_H

#include <stddef.h>
#include <stdint.h>

#include "carbon/factors.h"
#include "carbon/forecast.h"

/* Documents larger than this are refused unparsed. A day of 15-minute data for the
 * biggest bidding zone is a few hundred KiB. */
#define JP_ENTSOE_MAX_BYTES (8u * 1024 * 1024)

/* The reason code of an acknowledgement that means "No matching data". */
#define JP_ENTSOE_ACK_NO_DATA 999

struct jp_entsoe_result {
	/* The generation at the newest complete point (see jp_entsoe_parse): every production
	 * type that has a value there, storage (B10, B25) included when it has one. */
	struct jp_mix mix;
	int64_t start_ms, end_ms;    /* that point's interval: its start, and the earliest end
	                                of the values that make it up */
	unsigned series;             /* TimeSeries elements seen */
	unsigned generation_series;  /* of those, generation series used */
	unsigned consumption_series; /* series with an outBiddingZone_Domain: not generation */
	unsigned skipped_series;     /* rejected: bad period, unit, position, ... */
	unsigned negative_points;    /* negative quantities, taken as 0 MW for that point */
	unsigned nan_points;         /* NaN or infinite quantities: that point left out */
	int ack_code;                /* an Acknowledgement_MarketDocument's reason code, else 0 */
	char currency[4];            /* a price document's currency_Unit.name ("EUR"), else "" */
	char reason[192];            /* the acknowledgement's text, or the first problem found */
};

/* Parse an ENTSO-E answer of len bytes. Pure: no I/O, no logging, no global state besides
 * the parser's (expat). Hostile input is safe: the size is capped, nothing is fetched, the
 * nesting depth is bounded, and a document with a DOCTYPE is refused as soon as it starts
 * (no entity is ever declared, so none can be expanded).
 *
 * The newest complete point is the latest instant T that starts some value of a
 * generation series (production types in the mix, storage excluded) and at which every
 * generation series of the document has a value (curveType A03 values run forward to the
 * next given position or to the end of their Period). Series of different resolutions
 * therefore combine: at 10:45 a PT15M value and the PT60M value of 10:00-11:00 both hold.
 * Series of the same PsrType are merged.
 *
 * Returns 0 with out filled; -ENODATA for an acknowledgement with reason 999, or for a
 * document with no generation series or no complete point; -EREMOTEIO for an
 * acknowledgement with another reason code; -EFBIG when len exceeds JP_ENTSOE_MAX_BYTES;
 * -EBADMSG for malformed XML, a DOCTYPE, or an unexpected root element or namespace;
 * -ENOMEM. out->reason says why in every case but -ENOMEM. */
int jp_entsoe_parse(const void *buf, size_t len, struct jp_entsoe_result *out);

/* Build the A75/A16 request URL for [start_ms, end_ms) (rounded down to the minute):
 * <base>?documentType=A75&processType=A16&in_Domain=<area>&periodStart=..&periodEnd=..
 * &securityToken=<token>. With token NULL the token is written as "REDACTED": that form is
 * the one to log. Returns a malloc'd string the caller frees, or NULL with errno set. */
char *jp_entsoe_url(const char *base, const char *area, const char *token,
		    int64_t start_ms, int64_t end_ms);

/* Every value of every generation series of a GL_MarketDocument, for the day-ahead
 * forecast documents A69 (wind and solar per PsrType) and A71 (the total, a series with no
 * MktPSRType): added to series[psr] (series[0] for the total) and normalised. The safety
 * rules and errors of jp_entsoe_parse apply; -ENODATA when there is no generation series. */
int jp_entsoe_parse_series(const void *buf, size_t len, struct jp_forecast series[JP_PSR_MAX + 1],
			   struct jp_entsoe_result *out);

/* The intensity forecast of docs/carbon.md "Forecasts", per point of the total forecast
 * (split where a wind or solar value changes): (sum of wind and solar forecasts x their
 * factors + (total - wind and solar) x ef_rest) / total, with ef_rest the factor of the
 * non-wind/solar part of the latest actual mix. A point where a forecast type has a gap is
 * left out. Adds to *out and normalises it. Returns 0 or -ENOMEM. */
int jp_entsoe_forecast_build(const struct jp_forecast *total, const struct jp_forecast ws[JP_PSR_MAX + 1],
			     const struct jp_factors *f, double ef_rest, struct jp_forecast *out);

/* Prices beyond this (per MWh, either sign) are taken as broken and left out. */
#define JP_ENTSOE_MAX_PRICE 1e5

/* The load forecast of an A65 GL_MarketDocument (the series into the bidding zone,
 * outBiddingZone_Domain, without a production type), into *load (normalised). The rules and
 * errors of jp_entsoe_parse_series; -ENODATA with no load series. */
int jp_entsoe_parse_load(const void *buf, size_t len, struct jp_forecast *load, struct jp_entsoe_result *out);

/* The day-ahead prices of an A44 Publication_MarketDocument (price.amount per MWh, negative
 * prices kept), into *prices (normalised), with the currency in out->currency; a document
 * with two currencies is refused. -ENODATA with no price series. */
int jp_entsoe_parse_prices(const void *buf, size_t len, struct jp_forecast *prices, struct jp_entsoe_result *out);

/* The request URL for any document type: <base>?documentType=<doc>[&processType=<proc>]
 * &in_Domain=<area>&periodStart=..&periodEnd=..&securityToken=<token> (as jp_entsoe_url);
 * A65 names the area outBiddingZone_Domain, A44 both in_Domain and out_Domain; proc NULL
 * leaves processType out. */
char *jp_entsoe_url_doc(const char *base, const char *doc_type, const char *process_type, const char *area,
			const char *token, int64_t start_ms, int64_t end_ms);

#endif
