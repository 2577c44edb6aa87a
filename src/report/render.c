/* SPDX-License-Identifier: Apache-2.0 */
/* The carbon report as a terminal table, CSV, JSON or one self-contained HTML page with
 * an inline SVG chart (docs/reports.md). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "util/json.h"
#include "util/text.h"

#define J_PER_KWH 3.6e6

static const char *const formats[] = {
	[JP_FMT_TABLE] = "table", [JP_FMT_CSV] = "csv", [JP_FMT_JSON] = "json", [JP_FMT_HTML] = "html"};

int jp_report_format_parse(const char *s, enum jp_report_format *out)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(s, formats[i])) {
			*out = (enum jp_report_format)i;
			return 0;
		}
	return -EINVAL;
}

static const char *kind_name(enum jp_report_kind k)
{
	return k == JP_ROW_SYSTEM ? "system" : k == JP_ROW_IDLE ? "idle" : k == JP_ROW_TOTAL ? "total" : "row";
}

/* Share of the total CO2 (of the total energy when there is no CO2). */
static double share(const struct jp_report *r, const struct jp_report_row *row)
{
	if (r->total.co2_g > 0)
		return row->co2_g / r->total.co2_g;
	return r->total.energy_j > 0 ? row->energy_j / r->total.energy_j : 0;
}

/* Mean intensity of a row: its CO2 over its energy, in g/kWh (PUE included). */
static double intensity(const struct jp_report_row *row)
{
	return row->energy_j > 0 ? row->co2_g / (row->energy_j / J_PER_KWH) : 0;
}

static const char *shown_key(const struct jp_report_row *row)
{
	return row->key[0] ? row->key : "(no label)";
}

/* ---- table --------------------------------------------------------------------------- */

/* A key as a terminal shows it: control bytes and invalid UTF-8 as '?' (a label value is
 * anyone's text). Into a buffer the caller frees; "" when memory runs out. */
static const char *printable(struct jp_buf *b, const char *s)
{
	jp_buf_reset(b);
	if (jp_text_printable(b, s) || jp_buf_append(b, "", 1))
		return "";
	return (const char *)b->data;
}

/* A unit that shows the figures of a table: the largest that keeps the total at 1 or more
 * (Wh, kWh, MWh; g, kg, t). */
struct unit {
	const char *name;
	double per;   /* base units (J, g) in one */
};

static struct unit energy_unit(double total_j)
{
	return total_j >= 3.6e9 ? (struct unit){"MWh", 3.6e9} : total_j >= 3.6e6 ? (struct unit){"kWh", 3.6e6}
										 : (struct unit){"Wh", 3.6e3};
}

static struct unit co2_unit(double total_g)
{
	return total_g >= 1e6 ? (struct unit){"t", 1e6} : total_g >= 1e3 ? (struct unit){"kg", 1e3}
									   : (struct unit){"g", 1};
}

/* Decimals that show the smallest figure of a column (two significant digits; 3 to 6). */
static int decimals(const struct jp_report *r, size_t off, double per)
{
	double least = 0;
	for (size_t i = 0; i <= r->nrows; i++) {
		const struct jp_report_row *row = i < r->nrows ? &r->rows[i] : &r->total;
		double v = fabs(*(const double *)((const char *)row + off)) / per;
		if (v > 0 && (least == 0 || v < least))
			least = v;
	}
	int d = least > 0 ? (int)ceil(-log10(least)) + 1 : 3;
	return d < 3 ? 3 : d > 6 ? 6 : d;
}

static void table_row(const struct jp_report *r, const struct jp_report_row *row, int w, FILE *f)
{
	struct jp_buf k = {0};
	struct unit eu = energy_unit(r->total.energy_j), cu = co2_unit(r->total.co2_g);
	int de = decimals(r, offsetof(struct jp_report_row, energy_j), eu.per);
	int dc = decimals(r, offsetof(struct jp_report_row, co2_g), cu.per);
	fprintf(f, "%-*.*s %12.*f %11.*f", w, w, printable(&k, shown_key(row)), de, row->energy_j / eu.per, dc,
		row->co2_g / cu.per);
	jp_buf_free(&k);
	if (r->has_embodied)
		fprintf(f, " %12.*f", decimals(r, offsetof(struct jp_report_row, embodied_g), cu.per),
			row->embodied_g / cu.per);
	if (r->market)
		fprintf(f, " %11.*f %11.*f", decimals(r, offsetof(struct jp_report_row, co2_market_g), cu.per),
			row->co2_market_g / cu.per, decimals(r, offsetof(struct jp_report_row, matched_kwh), eu.per / 3.6e6),
			row->matched_kwh * 3.6e6 / eu.per);
	fprintf(f, " %6.1f %% %8.1f\n", 100 * share(r, row), intensity(row));
}

static void render_table(const struct jp_report *r, FILE *f)
{
	char from[32], to[32];
	jp_report_time_format(r->from_ms, 0, from, sizeof(from));
	jp_report_time_format(r->to_ms, 0, to, sizeof(to));
	int w = (int)strlen(jp_report_by_name(r->by));
	for (size_t i = 0; i < r->nrows; i++) {
		int l = (int)strlen(shown_key(&r->rows[i]));
		w = l > w ? l : w;
	}
	w = w < 7 ? 7 : w > 60 ? 60 : w;
	fprintf(f, "CO2 by %s, %s to %s\n\n", jp_report_by_name(r->by), from, to);
	char head[64];
	snprintf(head, sizeof(head), "%s", jp_report_by_name(r->by));
	for (char *p = head; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	struct unit eu = energy_unit(r->total.energy_j), cu = co2_unit(r->total.co2_g);
	char he[24], hc[24], hm[24], hx[24], hb[24];
	snprintf(he, sizeof(he), "ENERGY %s", eu.name);
	snprintf(hc, sizeof(hc), "CO2 %s", cu.name);
	snprintf(hb, sizeof(hb), "EMBODIED %s", cu.name);
	snprintf(hm, sizeof(hm), "MARKET %s", cu.name);
	snprintf(hx, sizeof(hx), "MATCHED %s", eu.name);
	fprintf(f, "%-*s %12s %11s", w, head, he, hc);
	if (r->has_embodied)
		fprintf(f, " %12s", hb);
	if (r->market)
		fprintf(f, " %11s %11s", hm, hx);
	fprintf(f, " %8s %8s\n", "SHARE", "g/kWh");
	for (size_t i = 0; i < r->nrows; i++)
		table_row(r, &r->rows[i], w, f);
	table_row(r, &r->total, w, f);
	if (r->warnings[0])
		fprintf(f, "\nwarning: %s\n", r->warnings);
}

/* ---- CSV ------------------------------------------------------------------------------ */

static void csv_row(const struct jp_report *r, const struct jp_report_row *row, FILE *f)
{
	jp_csv_field(row->key, f);
	fprintf(f, ",%s,%.17g,%.17g,%.17g,%.17g,", kind_name(row->kind), row->energy_j, row->energy_j / J_PER_KWH,
		row->co2_g, row->co2_g / 1000);
	if (r->has_embodied)
		fprintf(f, "%.17g", row->embodied_g);
	fprintf(f, ",%.17g,%.17g", share(r, row), intensity(row));
	if (r->market)
		fprintf(f, ",%.17g,%.17g,%.17g", row->co2_g, row->co2_market_g, row->matched_kwh);
	fputs("\r\n", f);
}

static void render_csv(const struct jp_report *r, FILE *f)
{
	/* RFC 4180: CRLF line ends; an empty embodied field when there is none. */
	fprintf(f, "%s,kind,energy_joules,energy_kwh,co2_grams,co2_kg,embodied_co2_grams,share,grams_per_kwh%s\r\n",
		jp_report_by_name(r->by), r->market ? ",co2_location_grams,co2_market_grams,matched_energy_kwh" : "");
	for (size_t i = 0; i < r->nrows; i++)
		csv_row(r, &r->rows[i], f);
	csv_row(r, &r->total, f);
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* intensity_sources: the share of the energy converted with each intensity source, so
 * that a reader sees how much of the CO2 rests on the fallback. */
static void json_sources(struct jp_jw *w, const struct jp_report *r)
{
	double all = 0;
	for (size_t i = 0; i < r->nsources; i++)
		all += r->sources[i].joules;
	jp_jw_key(w, "intensity_sources");
	jp_jw_object(w);
	for (size_t i = 0; i < r->nsources && all > 0; i++) {
		jp_jw_key(w, r->sources[i].name);
		jp_jw_number(w, r->sources[i].joules / all);
	}
	jp_jw_end(w);
}

static void json_row(struct jp_jw *w, const struct jp_report *r, const struct jp_report_row *row, int with_key)
{
	jp_jw_object(w);
	if (with_key) {
		jp_jw_key(w, jp_report_by_name(r->by));
		jp_jw_string(w, row->key);   /* made valid UTF-8 by the writer */
	}
	jp_jw_key(w, "kind");
	jp_jw_string(w, kind_name(row->kind));
	jp_jw_key(w, "energy_joules");
	jp_jw_number(w, row->energy_j);
	jp_jw_key(w, "energy_kwh");
	jp_jw_number(w, row->energy_j / J_PER_KWH);
	jp_jw_key(w, "co2_grams");
	jp_jw_number(w, row->co2_g);
	jp_jw_key(w, "co2_location_grams");
	jp_jw_number(w, row->co2_g);
	if (r->market) {
		jp_jw_key(w, "co2_market_grams");
		jp_jw_number(w, row->co2_market_g);
		jp_jw_key(w, "matched_energy_kwh");
		jp_jw_number(w, row->matched_kwh);
		if (r->hourly) {
			jp_jw_key(w, "cfe_ratio");
			jp_jw_number(w, row->cfe_ratio);   /* NAN: null */
		}
	}
	jp_jw_key(w, "embodied_co2_grams");
	if (r->has_embodied)
		jp_jw_number(w, row->embodied_g);
	else
		jp_jw_null(w);
	if (r->has_sci) {
		jp_jw_key(w, "functional_units");
		jp_jw_number(w, row->units);   /* NAN (none) is null */
		jp_jw_key(w, "sci_grams_per_unit");
		jp_jw_number(w, row->units > 0 ? (row->co2_g + row->embodied_g) / row->units : NAN);
	}
	jp_jw_key(w, "grid_cfe_ratio");
	if (r->has_cfe && row->energy_j > 0)
		jp_jw_number(w, row->cfe_j / row->energy_j);
	else
		jp_jw_null(w);
	jp_jw_key(w, "share");
	jp_jw_number(w, share(r, row));
	jp_jw_key(w, "grams_per_kwh");
	jp_jw_number(w, intensity(row));
	if (row->kind == JP_ROW_TOTAL)
		json_sources(w, r);
	jp_jw_end(w);
}

/* method: location-based always; market-based with the instruments and their use. */
static void json_method(struct jp_jw *w, const struct jp_report *r)
{
	jp_jw_key(w, "method");
	jp_jw_object(w);
	jp_jw_key(w, "location");
	jp_jw_string(w, "the agents' CO2 counters: energy x PUE x the grid's average intensity in force");
	if (r->market) {
		const struct jp_instruments *ins = r->market;
		jp_jw_key(w, "market");
		jp_jw_object(w);
		jp_jw_key(w, "matching");
		jp_jw_string(w, r->hourly ? "hourly" : "period");
		jp_jw_key(w, "residual_grams_per_kwh");
		if (ins->nresidual == 1 && !ins->residual[0].nmatch) {
			jp_jw_number(w, ins->residual[0].g_per_kwh);
		} else {
			jp_jw_array(w);
			for (size_t i = 0; i < ins->nresidual; i++) {
				jp_jw_object(w);
				jp_jw_key(w, "match");
				jp_jw_object(w);
				for (size_t k = 0; k < ins->residual[i].nmatch; k++) {
					jp_jw_key(w, ins->residual[i].match[k].key);
					jp_jw_string(w, ins->residual[i].match[k].value);
				}
				jp_jw_end(w);
				jp_jw_key(w, "grams_per_kwh");
				jp_jw_number(w, ins->residual[i].g_per_kwh);
				jp_jw_end(w);
			}
			jp_jw_end(w);
		}
		jp_jw_key(w, "residual_source");
		if (ins->residual_source)
			jp_jw_string(w, ins->residual_source);
		else
			jp_jw_null(w);
		jp_jw_key(w, "pue");
		jp_jw_number(w, ins->pue);
		jp_jw_key(w, "supplier_grams_per_kwh");
		if (ins->has_supplier)
			jp_jw_number(w, ins->supplier_g_per_kwh);
		else
			jp_jw_null(w);
		jp_jw_key(w, "instruments");
		jp_jw_array(w);
		for (size_t i = 0; i < ins->n; i++) {
			const struct jp_instrument *in = &ins->v[i];
			jp_jw_object(w);
			jp_jw_key(w, "name");
			jp_jw_string(w, in->name);
			jp_jw_key(w, "kind");
			jp_jw_string(w, in->kind);
			jp_jw_key(w, "grams_per_kwh");
			jp_jw_number(w, in->g_per_kwh);
			jp_jw_key(w, "available_kwh");
			jp_jw_number(w, in->available_kwh);
			jp_jw_key(w, "used_kwh");
			jp_jw_number(w, in->used_kwh);
			jp_jw_key(w, "excess_kwh");
			jp_jw_number(w, in->available_kwh - in->used_kwh);
			jp_jw_end(w);
		}
		jp_jw_end(w);
		jp_jw_end(w);
	}
	jp_jw_end(w);
}

static int render_json(const struct jp_report *r, FILE *f)
{
	char from[32], to[32], day[16];
	struct jp_buf b = {0};
	struct jp_jw w;
	jp_report_time_format(r->from_ms, 0, from, sizeof(from));
	jp_report_time_format(r->to_ms, 0, to, sizeof(to));
	jp_jw_init(&w, &b, 1);
	jp_jw_object(&w);
	jp_jw_key(&w, "from");
	jp_jw_string(&w, from);
	jp_jw_key(&w, "to");
	jp_jw_string(&w, to);
	jp_jw_key(&w, "by");
	jp_jw_string(&w, jp_report_by_name(r->by));
	jp_jw_key(&w, "rows");
	jp_jw_array(&w);
	for (size_t i = 0; i < r->nrows; i++)
		json_row(&w, r, &r->rows[i], 1);
	jp_jw_end(&w);
	jp_jw_key(&w, "total");
	json_row(&w, r, &r->total, 0);
	jp_jw_key(&w, "days");
	jp_jw_array(&w);
	for (size_t d = 0; d < r->ndays; d++) {
		jp_report_time_format(r->from_ms + (int64_t)d * JP_REPORT_DAY_MS, 1, day, sizeof(day));
		jp_jw_object(&w);
		jp_jw_key(&w, "day");
		jp_jw_string(&w, day);
		jp_jw_key(&w, "co2_grams");
		jp_jw_number(&w, r->total.daily_co2_g[d]);
		if (r->daily_market_g) {
			jp_jw_key(&w, "co2_market_grams");
			jp_jw_number(&w, r->daily_market_g[d]);
		}
		jp_jw_key(&w, "has_samples");
		jp_jw_bool(&w, r->day_has_data[d]);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	json_method(&w, r);
	jp_jw_key(&w, "warnings");
	jp_jw_array(&w);
	char warn[sizeof(r->warnings)];
	snprintf(warn, sizeof(warn), "%s", r->warnings);
	for (char *save, *line = strtok_r(warn, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		jp_jw_string(&w, line);
	jp_jw_end(&w);
	jp_jw_end(&w);
	int rc = jp_jw_finish(&w);
	if (!rc)
		fprintf(f, "%.*s\n", (int)b.len, (const char *)b.data);
	jp_buf_free(&b);
	return rc;
}

/* ---- HTML ------------------------------------------------------------------------------ */

static void html_text(const char *s, FILE *f)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc((unsigned char)*s < 0x20 && *s != '\n' ? '?' : *s, f);
		}
	}
}

static const char *const palette[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e",
				      "#e6ab02", "#a6761d", "#1f78b4", "#b2df8a", "#fb9a99"};
#define OTHER_COLOR "#999999"
#define REST_COLOR "#cccccc"

/* One stacked series of the chart: a row, "other" rows, or the system and idle rows. */
struct chart_series {
	const char *name;
	const char *color;
	double *daily;
};

/* A round step for about 4 axis ticks up to max. */
static double tick_step(double max)
{
	if (max <= 0)
		return 1;
	double raw = max / 4, mag = pow(10, floor(log10(raw)));
	double norm = raw / mag;
	return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

/* A chart's frame: the SVG element and its y axis up to max grams (kg when the bars reach
 * a kilogram). Returns the value at the top of the axis. */
struct frame {
	int W, H, L, R, T, B;
};

static double chart_frame(FILE *f, const struct frame *fr, const char *id, const char *label, double max)
{
	double unit = max >= 1000 ? 1000 : 1;
	const char *uname = unit > 1 ? "kg" : "g";
	double step = tick_step(max / unit) * unit;
	double top_v = max > 0 ? ceil(max / step) * step : step, ph = fr->H - fr->T - fr->B;
	fprintf(f, "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		   "height=\"%d\" role=\"img\" aria-label=\"%s\">\n", id, fr->W, fr->H, fr->W, fr->H, label);
	for (double v = 0; v <= top_v + step / 2; v += step) {
		double y = fr->T + ph - ph * v / top_v;
		fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
			   "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g %s</text>\n",
			fr->L, fr->W - fr->R, y, y, fr->L - 6, y + 4, v / unit, uname);
	}
	return top_v;
}

static int render_chart(const struct jp_report *r, size_t top, FILE *f)
{
	size_t ngroups = 0;
	for (size_t i = 0; i < r->nrows; i++)
		ngroups += r->rows[i].kind == JP_ROW_GROUP;
	if (top > sizeof(palette) / sizeof(palette[0]))
		top = sizeof(palette) / sizeof(palette[0]);
	size_t shown = ngroups < top ? ngroups : top;
	size_t nser = shown + (ngroups > shown) + (r->nrows > ngroups);
	struct chart_series *ser = calloc(nser + 1, sizeof(*ser));
	double *other = calloc(r->ndays + 1, sizeof(double)), *rest = calloc(r->ndays + 1, sizeof(double));
	if (!ser || !other || !rest) {
		free(ser);
		free(other);
		free(rest);
		return -ENOMEM;
	}
	size_t k = 0, g = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		const struct jp_report_row *row = &r->rows[i];
		if (row->kind == JP_ROW_GROUP && g < shown) {
			ser[k++] = (struct chart_series){shown_key(row), palette[g], row->daily_co2_g};
			g++;
			continue;
		}
		double *into = row->kind == JP_ROW_GROUP ? other : rest;
		for (size_t d = 0; d < r->ndays; d++)
			into[d] += row->daily_co2_g[d];
	}
	if (ngroups > shown)
		ser[k++] = (struct chart_series){"other", OTHER_COLOR, other};
	if (r->nrows > ngroups)
		ser[k++] = (struct chart_series){"system and idle", REST_COLOR, rest};

	double max = 0;
	for (size_t d = 0; d < r->ndays; d++) {
		double sum = 0;
		for (size_t s = 0; s < k; s++)
			sum += ser[s].daily[d] > 0 ? ser[s].daily[d] : 0;
		max = sum > max ? sum : max;
	}
	const int W = 900, H = 320, L = 60, R = 10, T = 20, B = 40;
	double top_v = chart_frame(f, &(struct frame){W, H, L, R, T, B}, "chart", "CO2 per day", max);
	double pw = W - L - R, ph = H - T - B, bw = pw / (double)r->ndays;
	size_t label_every = (r->ndays + 14) / 15;
	for (size_t d = 0; d < r->ndays; d++) {
		char day[16];
		jp_report_time_format(r->from_ms + (int64_t)d * JP_REPORT_DAY_MS, 1, day, sizeof(day));
		fprintf(f, "<g class=\"day\" data-day=\"%s\">", day);
		double y = T + ph;
		for (size_t s = 0; s < k; s++) {
			double v = ser[s].daily[d] > 0 ? ser[s].daily[d] : 0;
			double h = ph * v / top_v;
			y -= h;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
				L + d * bw + bw * 0.1, y, bw * 0.8, h, ser[s].color);
			html_text(day, f);
			fputs(" ", f);
			html_text(ser[s].name, f);
			fprintf(f, ": %.3f kg</title></rect>", v / 1000);
		}
		if (d % label_every == 0)
			fprintf(f, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
				L + d * bw + bw / 2, H - B + 16, day + 5);
		fputs("</g>\n", f);
	}
	fputs("</svg>\n<ul class=\"legend\">", f);
	for (size_t s = 0; s < k; s++) {
		fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>", ser[s].color);
		html_text(ser[s].name, f);
		fputs("</li>", f);
	}
	fputs("</ul>\n", f);
	free(ser);
	free(other);
	free(rest);
	return 0;
}

static void html_row(const struct jp_report *r, const struct jp_report_row *row, FILE *f)
{
	fprintf(f, "<tr class=\"%s\"><td>", kind_name(row->kind));
	struct jp_buf k = {0};
	html_text(printable(&k, shown_key(row)), f);
	jp_buf_free(&k);
	fprintf(f, "</td><td>%.3f</td><td>%.3f</td>", row->energy_j / J_PER_KWH, row->co2_g / 1000);
	if (r->has_embodied)
		fprintf(f, "<td>%.3f</td>", row->embodied_g / 1000);
	if (r->market)
		fprintf(f, "<td>%.3f</td><td>%.3f</td>", row->co2_market_g / 1000, row->matched_kwh);
	if (r->has_cfe)
		fprintf(f, "<td>%.1f %%</td>", row->energy_j > 0 ? 100 * row->cfe_j / row->energy_j : 0);
	fprintf(f, "<td>%.1f %%</td><td>%.1f</td></tr>\n", 100 * share(r, row), intensity(row));
}

/* Location- and market-based CO2 per day, side by side. */
static void render_market_chart(const struct jp_report *r, FILE *f)
{
	double max = 0;
	for (size_t d = 0; d < r->ndays; d++) {
		max = r->total.daily_co2_g[d] > max ? r->total.daily_co2_g[d] : max;
		max = r->daily_market_g[d] > max ? r->daily_market_g[d] : max;
	}
	const int W = 900, H = 280, L = 60, R = 10, T = 20, B = 40;
	double top_v = chart_frame(f, &(struct frame){W, H, L, R, T, B}, "methods",
				   "location- and market-based CO2 per day", max);
	double pw = W - L - R, ph = H - T - B, bw = pw / (double)r->ndays;
	static const struct {
		const char *name, *color;
	} m[2] = {{"location-based", "#7570b3"}, {"market-based", "#1b9e77"}};
	size_t label_every = (r->ndays + 14) / 15;
	for (size_t d = 0; d < r->ndays; d++) {
		char day[16];
		jp_report_time_format(r->from_ms + (int64_t)d * JP_REPORT_DAY_MS, 1, day, sizeof(day));
		fprintf(f, "<g class=\"mday\" data-day=\"%s\">", day);
		for (int k = 0; k < 2; k++) {
			double v = k ? r->daily_market_g[d] : r->total.daily_co2_g[d];
			v = v > 0 ? v : 0;
			double h = ph * v / top_v;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s: "
				   "%.3f kg</title></rect>",
				L + d * bw + bw * (0.1 + 0.4 * k), T + ph - h, bw * 0.4, h, m[k].color, day, m[k].name, v / 1000);
		}
		if (d % label_every == 0)
			fprintf(f, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
				L + d * bw + bw / 2, H - B + 16, day + 5);
		fputs("</g>\n", f);
	}
	fputs("</svg>\n<ul class=\"legend\">", f);
	for (int k = 0; k < 2; k++)
		fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>%s</li>", m[k].color, m[k].name);
	fputs("</ul>\n", f);
}

/* How the figures were made: both methods, the instruments, the residual mix and its
 * source, and the data behind them. */
static void render_method(const struct jp_report *r, FILE *f)
{
	fputs("<h2>Method</h2>\n<dl class=\"method\">\n<dt>Location-based</dt><dd>The agents' CO2 counters: the "
	      "energy each measured, times the PUE, times the grid's average intensity in force in each interval.</dd>\n",
	      f);
	if (r->market) {
		const struct jp_instruments *ins = r->market;
		fprintf(f, "<dt>Market-based</dt><dd>The instruments below, in this order, cover the energy of the rows "
			   "their labels match (shared by uncovered energy); what they leave is counted at %s. Matching: %s.</dd>\n",
			ins->has_supplier ? "the supplier's rate" : "the residual mix",
			r->hourly ? "<b>hourly</b>: each instrument covers only the hours it supplied, each row's energy "
				    "of that hour"
				  : "<b>period</b>: each instrument's supply over the range against the range's energy "
				    "(the chart shows each day at the period's market-based intensity)");
		fputs("<dt>Residual mix</dt><dd>", f);
		for (size_t i = 0; i < ins->nresidual; i++) {
			fprintf(f, "%s%.1f g/kWh", i ? "; " : "", ins->residual[i].g_per_kwh);
			for (size_t k = 0; k < ins->residual[i].nmatch; k++) {
				fputs(k ? ", " : " where ", f);
				html_text(ins->residual[i].match[k].key, f);
				fputs("=", f);
				html_text(ins->residual[i].match[k].value, f);
			}
		}
		fprintf(f, ". Electricity bought: the measured energy times a PUE of %.2f", ins->pue);
		fputs(". Source of the residual mix: ", f);
		html_text(ins->residual_source ? ins->residual_source : "not stated in the instruments file", f);
		fputs(".", f);
		if (ins->has_supplier)
			fprintf(f, " Supplier's rate: %.1f g/kWh.", ins->supplier_g_per_kwh);
		fputs("</dd>\n</dl>\n<table class=\"instruments\">\n<thead><tr><th>instrument</th><th>kind</th>"
		      "<th>g/kWh</th><th>available kWh</th><th>used kWh</th><th>excess kWh</th></tr></thead>\n<tbody>\n",
		      f);
		for (size_t i = 0; i < ins->n; i++) {
			const struct jp_instrument *in = &ins->v[i];
			fputs("<tr><td>", f);
			html_text(in->name, f);
			fputs("</td><td>", f);
			html_text(in->kind, f);
			fprintf(f, "</td><td>%.1f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>\n", in->g_per_kwh,
				in->available_kwh, in->used_kwh, in->available_kwh - in->used_kwh);
		}
		fputs("</tbody>\n</table>\n<h2>Location- and market-based CO2 per day</h2>\n", f);
		if (r->daily_market_g)
			render_market_chart(r, f);
		fputs("<dl class=\"method\">\n", f);
	}
	fputs("<dt>Data quality</dt><dd>Energy by intensity source: ", f);
	double all = 0;
	for (size_t i = 0; i < r->nsources; i++)
		all += r->sources[i].joules;
	for (size_t i = 0; i < r->nsources && all > 0; i++) {
		fputs(i ? ", " : "", f);
		html_text(r->sources[i].name, f);
		fprintf(f, " %.1f %%", 100 * r->sources[i].joules / all);
	}
	if (!(all > 0))
		fputs("not recorded by these agents", f);
	size_t nmiss = 0;
	for (size_t d = 0; d < r->ndays; d++)
		nmiss += !r->day_has_data[d];
	fprintf(f, ". Days without samples: %zu of %zu.", nmiss, r->ndays);
	if (r->has_cfe)
		fprintf(f, " Carbon-free share of the grid (location-based): %.1f %%.",
			r->total.energy_j > 0 ? 100 * r->total.cfe_j / r->total.energy_j : 0);
	if (r->market && r->hourly && !isnan(r->total.cfe_ratio))
		fprintf(f, " Hourly carbon-free energy score: %.1f %%.", 100 * r->total.cfe_ratio);
	fputs("</dd>\n<dt>What these figures are not</dt><dd>Not a certified inventory: measured and modelled "
	      "energy, grid data and the instruments file as given. The residual mix must come from the issuing "
	      "body of the instruments' market.</dd>\n</dl>\n", f);
}

static int render_html(const struct jp_report *r, size_t top, FILE *f)
{
	char from[32], to[32];
	jp_report_time_format(r->from_ms, 0, from, sizeof(from));
	jp_report_time_format(r->to_ms, 0, to, sizeof(to));
	/* No script, font or image from anywhere: the page's policy forbids every fetch, so
	 * a browser would report any that crept in. */
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		   "<title>CO2 by %s, %s to %s</title>\n<style>\n"
		   "body{font-family:sans-serif;margin:2em;color:#222;max-width:960px}\n"
		   "h1{font-size:1.4em}\ntable{border-collapse:collapse;margin-top:1em}\n"
		   "th,td{padding:.25em .75em;border-bottom:1px solid #ddd;text-align:right}\n"
		   "th:first-child,td:first-child{text-align:left}\n"
		   "tr.total td{font-weight:bold;border-top:2px solid #222}\n"
		   "tr.system td,tr.idle td{color:#555;font-style:italic}\n"
		   "svg text{font-size:11px;fill:#444}\nline.grid{stroke:#e5e5e5}\n"
		   ".legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}\n"
		   ".swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}\n"
		   ".warn{color:#8a4b00}\ndl.method dt{font-weight:bold;margin-top:.6em}\n@media print{body{margin:0}svg{width:100%%;height:auto}}\n"
		   "</style>\n</head>\n<body>\n", jp_report_by_name(r->by), from, to);
	fprintf(f, "<h1>CO2 by %s</h1>\n<p>From %s to %s (%zu days). Operational CO2 is the energy "
		   "the agents measured times the grid intensity of each interval and the PUE; the rows add "
		   "up to the nodes' total.</p>\n", jp_report_by_name(r->by), from, to, r->ndays);
	if (r->warnings[0]) {
		fputs("<p class=\"warn\">", f);
		html_text(r->warnings, f);
		fputs("</p>\n", f);
	}
	fputs("<h2>CO2 per day</h2>\n", f);
	int rc = render_chart(r, top, f);
	if (rc)
		return rc;
	fputs("<table>\n<thead><tr><th>", f);
	html_text(jp_report_by_name(r->by), f);
	fputs("</th><th>energy kWh</th><th>CO2 kg</th>", f);
	if (r->has_embodied)
		fputs("<th>embodied kg</th>", f);
	if (r->market)
		fputs("<th>market-based kg</th><th>matched kWh</th>", f);
	if (r->has_cfe)
		fputs("<th>carbon-free</th>", f);
	fputs("<th>share</th><th>g/kWh</th></tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < r->nrows; i++)
		html_row(r, &r->rows[i], f);
	html_row(r, &r->total, f);
	fputs("</tbody>\n</table>\n", f);
	render_method(r, f);
	fputs("</body>\n</html>\n", f);
	return 0;
}

int jp_report_render(const struct jp_report *r, enum jp_report_format fmt, size_t chart_top, FILE *f)
{
	int rc = 0;
	switch (fmt) {
	case JP_FMT_TABLE: render_table(r, f); break;
	case JP_FMT_CSV: render_csv(r, f); break;
	case JP_FMT_JSON: rc = render_json(r, f); break;
	case JP_FMT_HTML: rc = render_html(r, chart_top, f); break;
	}
	if (rc)
		return rc;
	return fflush(f) || ferror(f) ? -EIO : 0;
}
