/* SPDX-License-Identifier: Apache-2.0 */
/* ENTSO-E Transparency Platform: the A75 "actual generation per production type" request
 * and its GL_MarketDocument / Acknowledgement_MarketDocument answers (docs/carbon.md). */
#include "carbon/entsoe.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "util/time.h"
#include "carbon/forecast.h"
#include "util/buf.h"
#include "util/intern.h"

/* The document namespaces are versioned ("...:generationloaddocument:3:0", "...:3:1",
 * acknowledgement "...:7:0", "...:8:1"); any version of the right document is accepted. */
#define NS_GL "urn:iec62325.351:tc57wg16:451-6:generationloaddocument:"
#define NS_ACK "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:"
#define NS_PUB "urn:iec62325.351:tc57wg16:451-3:publicationdocument:"

/* What a document is read for. */
enum doc_mode {
	M_GEN,     /* generation per production type: A75, A69, A71 */
	M_LOAD,    /* the load (A65): series into the bidding zone's consumption */
	M_PRICE,   /* day-ahead prices (A44): price.amount per MWh, negatives kept */
};

/* A Period cannot hold more steps than a year of one-minute data. */
#define MAX_STEPS (366 * 24 * 60)

struct ival {
	int64_t start, end;
	double mw;
	size_t order;     /* document order: of two overlapping values the later one wins */
};

struct ivec {
	struct ival *v;
	size_t n, cap;
};

static int ivec_push(struct ivec *a, int64_t start, int64_t end, double mw)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct ival *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = (struct ival){.start = start, .end = end, .mw = mw};
	return 0;
}

static void set_reason(struct jp_entsoe_result *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_reason(struct jp_entsoe_result *out, const char *fmt, ...)
{
	if (out->reason[0])
		return;   /* keep the first problem */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

/* ---- parsing with expat into a small tree, DTDs refused ------------------------ */

/* An element: its namespace and local name, its own text (CDATA included; the text of
 * its children is theirs), its children in document order. The tree costs what the
 * reader needs and no more: names and namespace URIs are interned (a document has a
 * dozen of them; a copy per element made an 8 MiB document a 745 MiB tree), text is kept
 * at its size (and only up to MAX_TEXT: every value the reader takes is short), and the
 * blanks between elements are not kept at all. */
struct xnode {
	const char *ns;           /* the namespace URI (interned), or NULL */
	const char *name;         /* the local name (interned) */
	char *text;               /* NULL when none */
	uint32_t text_len;
	int text_cut;             /* longer than MAX_TEXT: text_of refuses it */
	struct xnode *first, *last, *next;
	int line;
};

#define MAX_DEPTH 64
/* A day of A75 for a large zone is about 6,000 elements, a week 40,000: 400,000 leaves
 * room for any request the agent makes and bounds the tree near 30 MiB. */
#define MAX_NODES 400000
#define MAX_TEXT 512
/* Points one document may hold (a point is at least two elements). */
#define MAX_POINTS 200000

struct pstate {
	XML_Parser p;
	struct xnode *root, *stack[MAX_DEPTH];
	int depth;
	size_t nodes;
	int doctype, oom, too_deep;
};

static void xnode_free(struct xnode *n)
{
	while (n) {
		struct xnode *next = n->next;
		xnode_free(n->first);
		jp_unintern(n->ns);
		jp_unintern(n->name);
		free(n->text);
		free(n);
		n = next;
	}
}

static void stop(struct pstate *st)
{
	XML_StopParser(st->p, XML_FALSE);
}

/* Names arrive as "URI local" (namespace processing with ' ' as the separator). */
static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	(void)atts;
	struct pstate *st = ud;
	if (st->depth >= MAX_DEPTH || st->nodes >= MAX_NODES) {
		st->too_deep = 1;
		stop(st);
		return;
	}
	struct xnode *n = calloc(1, sizeof(*n));
	const char *sp = strrchr(name, ' ');
	if (n) {
		const char *local = sp ? sp + 1 : name;
		n->name = jp_intern(local, strlen(local));
		n->ns = sp ? jp_intern(name, (size_t)(sp - name)) : NULL;
		n->line = (int)XML_GetCurrentLineNumber(st->p);
	}
	if (!n || !n->name || (sp && !n->ns)) {
		if (n)
			xnode_free(n);
		st->oom = 1;
		stop(st);
		return;
	}
	st->nodes++;
	if (st->depth == 0) {
		st->root = n;
	} else {
		struct xnode *parent = st->stack[st->depth - 1];
		if (parent->last)
			parent->last->next = n;
		else
			parent->first = n;
		parent->last = n;
	}
	st->stack[st->depth++] = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	(void)name;
	struct pstate *st = ud;
	if (st->depth > 0)
		st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct pstate *st = ud;
	if (st->depth <= 0 || len <= 0)
		return;
	struct xnode *n = st->stack[st->depth - 1];
	int blank = 1;
	for (int i = 0; i < len && blank; i++)
		blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n';
	if (blank)
		return;   /* indentation between elements, or blanks text_of would trim */
	if (n->text_len + (size_t)len > MAX_TEXT) {
		n->text_cut = 1;
		return;
	}
	char *t = realloc(n->text, n->text_len + (size_t)len + 1);
	if (!t) {
		st->oom = 1;
		stop(st);
		return;
	}
	memcpy(t + n->text_len, s, (size_t)len);
	n->text_len += (uint32_t)len;
	t[n->text_len] = '\0';
	n->text = t;
}

/* A75 documents never carry a DOCTYPE: refusing it means no entity is ever declared
 * (billion laughs) and no external subset is looked at. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal)
{
	struct pstate *st = ud;
	st->doctype = 1;
	stop(st);
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	struct pstate *st = ud;
	st->doctype = 1;
	stop(st);
}

static int has_ns_prefix(const struct xnode *n, const char *prefix)
{
	return n->ns && !strncmp(n->ns, prefix, strlen(prefix));
}

/* An element child of the document's namespace, matched by local name. */
static int is_el(const struct xnode *n, const char *ns, const char *local)
{
	if (strcmp(n->name, local))
		return 0;
	if (!ns || !n->ns)
		return ns == n->ns;
	return !strcmp(n->ns, ns);
}

static const struct xnode *child(const struct xnode *parent, const char *ns, const char *local)
{
	for (const struct xnode *c = parent ? parent->first : NULL; c; c = c->next)
		if (is_el(c, ns, local))
			return c;
	return NULL;
}

/* The text of an element, without leading and trailing blanks. Returns -1 when it is
 * missing, empty or longer than cap - 1. */
static int text_of(const struct xnode *n, char *buf, size_t cap)
{
	if (!n || !n->text || n->text_cut)
		return -1;
	const char *t = n->text;
	size_t len = n->text_len, a = 0;
	while (a < len && (t[a] == ' ' || t[a] == '\t' || t[a] == '\r' || t[a] == '\n'))
		a++;
	while (len > a && (t[len - 1] == ' ' || t[len - 1] == '\t' || t[len - 1] == '\r' || t[len - 1] == '\n'))
		len--;
	if (len - a >= cap || len == a || memchr(t + a, 0, len - a))
		return -1;
	memcpy(buf, t + a, len - a);
	buf[len - a] = 0;
	return 0;
}

static int text_time(const struct xnode *n, int64_t *t)
{
	char b[64];
	if (text_of(n, b, sizeof(b)))
		return -1;
	return jp_time_parse(b, strlen(b), t) ? -1 : 0;
}

/* ---- one TimeSeries ------------------------------------------------------------ */

struct point {
	long pos;
	double mw;
};

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Append the values of one Period to tmp. Returns 0, -EINVAL (reason set) or -ENOMEM. */
/* The production type of a series for a message: the total (A71) has none. */
static const char *psr_name(int psr)
{
	return psr ? jp_psr_code(psr) : "total";
}

static int parse_period(const struct xnode *period, const char *ns, int a03, enum doc_mode mode, struct ivec *tmp,
			unsigned *neg_points, unsigned *nan_points, char *why, size_t whylen)
{
	int64_t start, end, res;
	char b[64];
	const struct xnode *ti = child(period, ns, "timeInterval");
	if (text_time(child(ti, ns, "start"), &start) || text_time(child(ti, ns, "end"), &end) ||
	    end <= start) {
		snprintf(why, whylen, "bad Period timeInterval");
		return -EINVAL;
	}
	if (text_of(child(period, ns, "resolution"), b, sizeof(b)) || jp_time_duration_parse(b, &res)) {
		snprintf(why, whylen, "bad Period resolution");
		return -EINVAL;
	}
	if ((end - start) % res || (end - start) / res > MAX_STEPS) {
		snprintf(why, whylen, "Period length is not a whole number of %s steps", b);
		return -EINVAL;
	}
	long steps = (long)((end - start) / res);

	size_t n = 0, cap = 0;
	struct point *pts = NULL;
	int r = 0;
	for (const struct xnode *c = period->first; c; c = c->next) {
		if (!is_el(c, ns, "Point"))
			continue;
		char *e;
		long pos;
		double q;
		if (text_of(child(c, ns, "position"), b, sizeof(b)) ||
		    (errno = 0, pos = strtol(b, &e, 10), *e || errno) || pos < 1 || pos > steps) {
			snprintf(why, whylen, "bad Point position");
			r = -EINVAL;
			break;
		}
		if (text_of(child(c, ns, mode == M_PRICE ? "price.amount" : "quantity"), b, sizeof(b)) ||
		    (q = strtod(b, &e), *e)) {
			snprintf(why, whylen, "bad Point %s", mode == M_PRICE ? "price.amount" : "quantity");
			r = -EINVAL;
			break;
		}
		if (!isfinite(q)) {
			/* That point only: the series keeps its other points. */
			if (nan_points)
				(*nan_points)++;
			continue;
		}
		if (q < 0 && mode != M_PRICE) {
			/* Real A75 data carries small negatives (metering noise, a plant's own
			 * consumption at night): that point counts as 0 MW. Dropping the whole
			 * production type instead would change the mix far more. */
			if (neg_points)
				(*neg_points)++;
			q = 0;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 128;
			struct point *np = realloc(pts, nc * sizeof(*np));
			if (!np) {
				r = -ENOMEM;
				break;
			}
			pts = np;
			cap = nc;
		}
		pts[n++] = (struct point){pos, q};
	}
	if (r == 0 && n > 1) {
		qsort(pts, n, sizeof(*pts), cmp_point);
		for (size_t i = 1; i < n; i++) {
			if (pts[i].pos == pts[i - 1].pos) {
				snprintf(why, whylen, "position %ld given twice", pts[i].pos);
				r = -EINVAL;
				break;
			}
		}
	}
	if (r == 0 && tmp->n + n > MAX_POINTS) {
		snprintf(why, whylen, "more than %d points in the document", MAX_POINTS);
		r = -EFBIG;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		int64_t s = start + (pts[i].pos - 1) * res, e;
		/* curveType A03 (variable-sized blocks) leaves out a point that repeats the one
		 * before it: a value holds until the next given position or the end of the Period. */
		if (a03)
			e = i + 1 < n ? start + (pts[i + 1].pos - 1) * res : end;
		else
			e = s + res;
		r = ivec_push(tmp, s, e, pts[i].mw);
	}
	free(pts);
	return r;
}

/* Classify and read one TimeSeries. Returns 1 for a series the mode does not read (a
 * consumption series of a generation document), 0 with *psr and tmp filled, -EINVAL (why
 * set) or -ENOMEM. A price series gives its currency in out->currency. */
static int parse_series(const struct xnode *ts, const char *ns, int allow_total, enum doc_mode mode, int *psr,
			struct ivec *tmp, struct jp_entsoe_result *out, char *why, size_t whylen)
{
	char b[64];
	const char *unit_el = "quantity_Measure_Unit.name", *unit_want = "MAW";
	*psr = 0;
	if (mode == M_GEN) {
		/* A series whose energy leaves the bidding zone (pumping, charging) is consumption. */
		if (child(ts, ns, "outBiddingZone_Domain.mRID"))
			return 1;
		if (allow_total && !child(ts, ns, "MktPSRType")) {
			*psr = 0;   /* A71: the total generation, no production type */
		} else if (text_of(child(child(ts, ns, "MktPSRType"), ns, "psrType"), b, sizeof(b)) ||
			   !(*psr = jp_psr_parse(b))) {
			snprintf(why, whylen, "missing or unknown psrType");
			return -EINVAL;
		}
	} else if (mode == M_LOAD) {
		if (!child(ts, ns, "outBiddingZone_Domain.mRID") || child(ts, ns, "MktPSRType"))
			return 1;   /* not the zone's total load */
	} else {
		unit_el = "price_Measure_Unit.name";
		unit_want = "MWH";
		const struct xnode *cur = child(ts, ns, "currency_Unit.name");
		if (!cur || text_of(cur, b, sizeof(b)) || strlen(b) != 3) {
			snprintf(why, whylen, "missing or bad currency_Unit.name");
			return -EINVAL;
		}
		if (out->currency[0] && strcmp(out->currency, b)) {
			snprintf(why, whylen, "a second currency %s beside %s", b, out->currency);
			return -EINVAL;
		}
		snprintf(out->currency, sizeof(out->currency), "%s", b);
	}
	const char *what = mode == M_PRICE ? "price" : mode == M_LOAD ? "load" : psr_name(*psr);
	const struct xnode *unit = child(ts, ns, unit_el);
	if (unit && (text_of(unit, b, sizeof(b)) || strcmp(b, unit_want))) {
		snprintf(why, whylen, "%s: unit is not %s", what, unit_want);
		return -EINVAL;
	}
	int a03 = 0;
	const struct xnode *ct = child(ts, ns, "curveType");
	if (ct) {
		if (text_of(ct, b, sizeof(b)) || (strcmp(b, "A01") && strcmp(b, "A03"))) {
			snprintf(why, whylen, "%s: unsupported curveType", what);
			return -EINVAL;
		}
		a03 = !strcmp(b, "A03");
	}
	for (const struct xnode *c = ts->first; c; c = c->next) {
		if (!is_el(c, ns, "Period"))
			continue;
		char w[128] = "";
		int r = parse_period(c, ns, a03, mode, tmp, &out->negative_points, &out->nan_points, w, sizeof(w));
		if (r == -EINVAL || r == -EFBIG)
			snprintf(why, whylen, "%s: %s", what, w);
		if (r)
			return r;
	}
	return 0;
}

/* ---- the newest complete point ---------------------------------------------------- */

static int cmp_ival(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	if (x->start != y->start)
		return (x->start > y->start) - (x->start < y->start);
	return (x->order > y->order) - (x->order < y->order);
}

/* Sort by start and make the values disjoint: where two overlap, the later start (and, for
 * the same start, the later one in the document) wins. */
static void normalise(struct ivec *a)
{
	if (a->n == 0)
		return;   /* qsort() must not get a NULL array */
	for (size_t i = 0; i < a->n; i++)
		a->v[i].order = i;
	qsort(a->v, a->n, sizeof(*a->v), cmp_ival);
	size_t o = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct ival v = a->v[i];
		if (i + 1 < a->n && v.end > a->v[i + 1].start)
			v.end = a->v[i + 1].start;
		if (v.end > v.start)
			a->v[o++] = v;
	}
	a->n = o;
}

/* The value holding at t, or NULL. */
static const struct ival *lookup(const struct ivec *a, int64_t t)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {   /* first with start > t */
		size_t mid = lo + (hi - lo) / 2;
		if (a->v[mid].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct ival *v = &a->v[lo - 1];
	return t < v->end ? v : NULL;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x < y) - (x > y);
}

static int newest_complete(struct ivec *by_psr, struct jp_entsoe_result *out)
{
	size_t nc = 0;
	for (int p = 1; p <= JP_PSR_MAX; p++)
		if (jp_psr_in_mix(p))
			nc += by_psr[p].n;
	if (nc == 0) {
		set_reason(out, "no generation series");
		return -ENODATA;
	}
	int64_t *cand = malloc(nc * sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	nc = 0;
	for (int p = 1; p <= JP_PSR_MAX; p++)
		if (jp_psr_in_mix(p))
			for (size_t i = 0; i < by_psr[p].n; i++)
				cand[nc++] = by_psr[p].v[i].start;
	if (nc > 1)
		qsort(cand, nc, sizeof(*cand), cmp_desc);

	int found = 0;
	int64_t t = 0, end = INT64_MAX;
	for (size_t i = 0; i < nc && !found; i++) {
		if (i && cand[i] == cand[i - 1])
			continue;
		t = cand[i];
		end = INT64_MAX;
		found = 1;
		for (int p = 1; p <= JP_PSR_MAX && found; p++) {
			if (!jp_psr_in_mix(p) || !by_psr[p].n)
				continue;
			const struct ival *v = lookup(&by_psr[p], t);
			if (!v)
				found = 0;
			else if (v->end < end)
				end = v->end;
		}
	}
	free(cand);
	if (!found) {
		set_reason(out, "no instant at which every generation series has a value");
		return -ENODATA;
	}
	out->start_ms = t;
	out->end_ms = end;
	for (int p = 1; p <= JP_PSR_MAX; p++) {
		const struct ival *v = by_psr[p].n ? lookup(&by_psr[p], t) : NULL;
		if (v) {
			out->mix.mw[p] = v->mw;
			out->mix.present |= 1u << p;
		}
	}
	return 0;
}

/* ---- documents -------------------------------------------------------------------- */

static int parse_ack(const struct xnode *root, struct jp_entsoe_result *out)
{
	const char *ns = root->ns;
	const struct xnode *reason = child(root, ns, "Reason");
	char code[16], text[sizeof(out->reason)];
	if (text_of(child(reason, ns, "code"), code, sizeof(code)))
		strcpy(code, "?");
	if (text_of(child(reason, ns, "text"), text, sizeof(text))) {
		/* Too long or missing: keep what fits of it. */
		const struct xnode *t = child(reason, ns, "text");
		snprintf(text, sizeof(text), "%.*s", t ? (int)(t->text_len < sizeof(text) ? t->text_len : sizeof(text) - 1) : 0,
			 t && t->text ? t->text : "");
	}
	char *e;
	long c = strtol(code, &e, 10);
	out->ack_code = *e || c <= 0 || c > 99999 ? -1 : (int)c;
	snprintf(out->reason, sizeof(out->reason), "acknowledgement %s: %.160s", code, text);
	return out->ack_code == JP_ENTSOE_ACK_NO_DATA ? -ENODATA : -EREMOTEIO;
}

/* series: NULL for the newest complete point (A75), else every value of every series,
 * by production type (0: a total without one), for the forecast documents. */
static int parse_gl(const struct xnode *root, enum doc_mode mode, struct jp_entsoe_result *out,
		    struct jp_forecast *series)
{
	const char *ns = root->ns;
	struct ivec by_psr[JP_PSR_MAX + 1];
	struct ivec tmp = {0};
	int r = 0;
	size_t points = 0;

	memset(by_psr, 0, sizeof(by_psr));
	for (const struct xnode *ts = root->first; ts && r != -ENOMEM; ts = ts->next) {
		if (!is_el(ts, ns, "TimeSeries"))
			continue;
		out->series++;
		char why[160] = "";
		int psr = 0;
		tmp.n = 0;
		int k = parse_series(ts, ns, series != NULL, mode, &psr, &tmp, out, why, sizeof(why));
		if (k == -ENOMEM) {
			r = k;
		} else if (k == 1) {
			out->consumption_series++;
		} else if (k < 0) {
			out->skipped_series++;
			set_reason(out, "TimeSeries %u skipped: %s", out->series, why);
		} else if (psr && !jp_psr_fuel(psr)) {
			out->skipped_series++;
			set_reason(out, "TimeSeries %u skipped: %s is not a production type", out->series,
				   jp_psr_code(psr));
		} else if ((points += tmp.n) > MAX_POINTS) {
			set_reason(out, "more than %d points in the document", MAX_POINTS);
			r = -EFBIG;
			break;
		} else {
			if (jp_psr_in_mix(psr))
				out->generation_series++;
			for (size_t i = 0; i < tmp.n && r == 0; i++)
				r = ivec_push(&by_psr[psr], tmp.v[i].start, tmp.v[i].end, tmp.v[i].mw);
		}
	}
	if (r == 0 && !series) {
		for (int p = 1; p <= JP_PSR_MAX; p++)
			normalise(&by_psr[p]);
		r = newest_complete(by_psr, out);
	} else if (r == 0) {
		int any = 0;
		for (int p = 0; p <= JP_PSR_MAX && r == 0; p++) {
			normalise(&by_psr[p]);
			for (size_t i = 0; i < by_psr[p].n && r == 0; i++)
				r = jp_forecast_add(&series[p], by_psr[p].v[i].start, by_psr[p].v[i].end, by_psr[p].v[i].mw);
			if (r == 0 && by_psr[p].n) {
				any = 1;
				r = jp_forecast_normalize(&series[p], NULL);
			}
		}
		if (r == 0 && !any) {
			set_reason(out, mode == M_PRICE ? "no price series" : mode == M_LOAD ? "no load series"
				   : "no generation series");
			r = -ENODATA;
		}
	}
	free(tmp.v);
	for (int p = 0; p <= JP_PSR_MAX; p++)
		free(by_psr[p].v);
	return r;
}

static int parse_doc(const void *buf, size_t len, enum doc_mode mode, struct jp_entsoe_result *out,
		     struct jp_forecast *series)
{
	memset(out, 0, sizeof(*out));
	if (len > JP_ENTSOE_MAX_BYTES) {
		snprintf(out->reason, sizeof(out->reason), "document of %zu bytes is over the %u byte limit",
			 len, JP_ENTSOE_MAX_BYTES);
		return -EFBIG;
	}
	if (len == 0 || !buf) {
		snprintf(out->reason, sizeof(out->reason), "empty document");
		return -EBADMSG;
	}

	struct pstate st = {0};
	st.p = XML_ParserCreateNS(NULL, ' ');
	if (!st.p)
		return -ENOMEM;
	XML_SetUserData(st.p, &st);
	XML_SetElementHandler(st.p, on_start, on_end);
	XML_SetCharacterDataHandler(st.p, on_text);
	XML_SetStartDoctypeDeclHandler(st.p, on_doctype);
	XML_SetEntityDeclHandler(st.p, on_entity);
	/* No external entity is ever fetched: there is no handler for them, and parameter
	 * entities are not parsed. */
	XML_SetParamEntityParsing(st.p, XML_PARAM_ENTITY_PARSING_NEVER);
	enum XML_Status xs = XML_Parse(st.p, buf, (int)len, XML_TRUE);
	int r;
	if (st.doctype) {
		snprintf(out->reason, sizeof(out->reason), "document has a DOCTYPE (refused)");
		r = -EBADMSG;
		goto out;
	}
	if (st.oom) {
		r = -ENOMEM;
		goto out;
	}
	if (st.too_deep) {
		snprintf(out->reason, sizeof(out->reason), "malformed XML: nested deeper than %d or over %d elements",
			 MAX_DEPTH, MAX_NODES);
		r = -EBADMSG;
		goto out;
	}
	if (xs != XML_STATUS_OK || !st.root) {
		snprintf(out->reason, sizeof(out->reason), "malformed XML: line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(st.p), XML_ErrorString(XML_GetErrorCode(st.p)));
		r = -EBADMSG;
		goto out;
	}
	const struct xnode *root = st.root;
	if (mode != M_PRICE && !strcmp(root->name, "GL_MarketDocument") && has_ns_prefix(root, NS_GL)) {
		r = parse_gl(root, mode, out, series);
	} else if (mode == M_PRICE && !strcmp(root->name, "Publication_MarketDocument") && has_ns_prefix(root, NS_PUB)) {
		r = parse_gl(root, mode, out, series);
	} else if (!strcmp(root->name, "Acknowledgement_MarketDocument") && has_ns_prefix(root, NS_ACK)) {
		r = parse_ack(root, out);
	} else {
		snprintf(out->reason, sizeof(out->reason), "unexpected root element %.40s in namespace %.80s",
			 root->name, root->ns ? root->ns : "(none)");
		r = -EBADMSG;
	}
out:
	xnode_free(st.root);
	XML_ParserFree(st.p);
	return r;
}

int jp_entsoe_parse(const void *buf, size_t len, struct jp_entsoe_result *out)
{
	return parse_doc(buf, len, M_GEN, out, NULL);
}

int jp_entsoe_parse_series(const void *buf, size_t len, struct jp_forecast series[JP_PSR_MAX + 1],
			   struct jp_entsoe_result *out)
{
	return parse_doc(buf, len, M_GEN, out, series);
}

int jp_entsoe_parse_load(const void *buf, size_t len, struct jp_forecast *load, struct jp_entsoe_result *out)
{
	struct jp_forecast series[JP_PSR_MAX + 1];
	memset(series, 0, sizeof(series));
	int r = parse_doc(buf, len, M_LOAD, out, series);
	*load = series[0];
	for (int p = 1; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&series[p]);
	return r;
}

int jp_entsoe_parse_prices(const void *buf, size_t len, struct jp_forecast *prices, struct jp_entsoe_result *out)
{
	struct jp_forecast series[JP_PSR_MAX + 1];
	memset(series, 0, sizeof(series));
	series[0].signed_values = 1;
	series[0].max = JP_ENTSOE_MAX_PRICE;
	int r = parse_doc(buf, len, M_PRICE, out, series);
	*prices = series[0];
	for (int p = 1; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&series[p]);
	return r;
}

int jp_entsoe_forecast_build(const struct jp_forecast *total, const struct jp_forecast ws[JP_PSR_MAX + 1],
			     const struct jp_factors *f, double ef_rest, struct jp_forecast *out)
{
	static const int wind_solar[] = {16, 18, 19};
	for (size_t i = 0; i < total->n; i++) {
		const struct jp_fc_point *tp = &total->v[i];
		/* Split the total's point where a wind or solar value changes. */
		int64_t t = tp->start_ms;
		while (t < tp->end_ms) {
			int64_t next = tp->end_ms;
			double ws_mw = 0, ws_g = 0;
			int ok = 1;
			for (size_t k = 0; k < sizeof(wind_solar) / sizeof(wind_solar[0]) && ok; k++) {
				const struct jp_forecast *s = &ws[wind_solar[k]];
				if (!s->n)
					continue;   /* this type is not in the forecast: none of it */
				double mw;
				if (jp_forecast_at(s, t, &mw)) {
					ok = 0;   /* a gap in a type that is forecast: leave the point out */
					break;
				}
				ws_mw += mw;
				ws_g += mw * f->g_per_kwh[wind_solar[k]];
				/* The end of the value in force at t (found by a binary search: the
				 * build is n log n, where a scan per step made two week-long
				 * documents block the loop for seconds). */
				size_t j = jp_forecast_index(s, t);
				if (j && s->v[j - 1].end_ms < next)
					next = s->v[j - 1].end_ms;
			}
			if (ok) {
				double tot = tp->g_per_kwh > ws_mw ? tp->g_per_kwh : ws_mw;
				double rest = tot - ws_mw;
				if (tot > 0 && jp_forecast_add(out, t, next, (ws_g + rest * ef_rest) / tot))
					return -ENOMEM;
			} else {
				/* Skip to where that type's next value starts, or the point's end. */
				for (size_t k = 0; k < sizeof(wind_solar) / sizeof(wind_solar[0]); k++) {
					const struct jp_forecast *s = &ws[wind_solar[k]];
					size_t j = jp_forecast_index(s, t);   /* the first point after t */
					if (j < s->n && s->v[j].start_ms < next)
						next = s->v[j].start_ms;
				}
			}
			t = next;
		}
	}
	return jp_forecast_normalize(out, NULL);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
char *jp_entsoe_url(const char *base, const char *area, const char *token,
		    int64_t start_ms, int64_t end_ms)
{
	return jp_entsoe_url_doc(base, "A75", "A16", area, token, start_ms, end_ms);
}

char *jp_entsoe_url_doc(const char *base, const char *doc_type, const char *process_type, const char *area,
			const char *token, int64_t start_ms, int64_t end_ms)
{
	char ps[16], pe[16];
	struct jp_buf b = {0};
	if (!base || !area || jp_time_format_compact(start_ms, ps, sizeof(ps)) ||
	    jp_time_format_compact(end_ms, pe, sizeof(pe))) {
		errno = EINVAL;
		return NULL;
	}
	int r = jp_buf_printf(&b, "%s%sdocumentType=%s", base, strchr(base, '?') ? "&" : "?", doc_type);
	if (!r && process_type)
		r = jp_buf_printf(&b, "&processType=%s", process_type);
	/* The load is asked by outBiddingZone_Domain; prices by in_Domain and out_Domain. */
	r = r ? r : jp_buf_printf(&b, "&%s=", !strcmp(doc_type, "A65") ? "outBiddingZone_Domain" : "in_Domain");
	r = r ? r : jp_buf_append_urlencoded(&b, area);
	if (!r && !strcmp(doc_type, "A44")) {
		r = jp_buf_printf(&b, "&out_Domain=");
		r = r ? r : jp_buf_append_urlencoded(&b, area);
	}
	r = r ? r : jp_buf_printf(&b, "&periodStart=%s&periodEnd=%s&securityToken=", ps, pe);
	r = r ? r : (token ? jp_buf_append_urlencoded(&b, token) : jp_buf_printf(&b, "REDACTED"));
	r = r ? r : jp_buf_append(&b, "", 1);
	if (r) {
		jp_buf_free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return (char *)b.data;
}
