/* SPDX-License-Identifier: Apache-2.0 */
/* write_relabel_configs (remote/relabel.c, util/regex.c): the semantics of Prometheus's
 * relabelling for keep, drop, replace, labeldrop and labelkeep, case by case as its own
 * tests exercise them (templates in replacement and target_label, anchoring, missing
 * groups, invalid targets, several rules in a row); Go's $name expansion; the bounds on
 * a pathological pattern; and the config's errors with their line. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "remote/relabel.h"
#include "util/regex.h"

#define MAXR 4

struct rule {
	const char *src[3];
	const char *regex, *target, *replacement, *action;
};

struct tcase {
	const char *in;              /* "a=foo,b=bar" (__name__=m is added) */
	struct rule r[MAXR];
	const char *out;             /* the result without __name__, or NULL: dropped */
};

static const struct tcase cases[] = {
	/* replace: ${1} twice */
	{"a=foo,b=bar,c=baz", {{{"a"}, "f(.*)", "d", "ch${1}-ch${1}", "replace"}}, "a=foo,b=bar,c=baz,d=choo-choo"},
	/* two sources joined by ";", then a rule that reads the first one's result */
	{"a=foo,b=bar,c=baz",
	 {{{"a", "b"}, "f(.*);(.*)r", "a", "b${1}${2}m", "replace"}, {{"c", "a"}, "(b).*b(.*)ba(.*)", "d", "$1$2$2$3", "replace"}},
	 "a=boobam,b=bar,c=baz,d=boooom"},
	/* drop before a replace that would have matched */
	{"a=foo", {{{"a"}, ".*o.*", NULL, NULL, "drop"}, {{"a"}, "f(.*)", "d", "ch$1-ch$1", "replace"}}, NULL},
	{"a=foo,b=bar", {{{"a"}, ".*o.*", NULL, NULL, "drop"}}, NULL},
	{"a=abc", {{{"a"}, ".*(b).*", "d", "$1", "replace"}}, "a=abc,d=b"},
	/* fully anchored: "f|o" does not match "foo" */
	{"a=foo", {{{"a"}, "no-match", NULL, NULL, "drop"}}, "a=foo"},
	{"a=foo", {{{"a"}, "f|o", NULL, NULL, "drop"}}, "a=foo"},
	{"a=foo", {{{"a"}, "no-match", NULL, NULL, "keep"}}, NULL},
	{"a=foo", {{{"a"}, "f.*", NULL, NULL, "keep"}}, "a=foo"},
	/* no match, no replacement */
	{"a=boo", {{{"a"}, "f", "b", "bar", "replace"}}, "a=boo"},
	/* target_label as a template */
	{"a=some-name-value", {{{"a"}, "some-([^-]+)-([^,]+)", "${1}", "${2}", "replace"}}, "a=some-name-value,name=value"},
	/* a group that does not exist: empty replacement, no label */
	{"a=some-name-value", {{{"a"}, "some-([^-]+)-([^,]+)", "${1}", "${3}", "replace"}}, "a=some-name-value"},
	/* an empty or invalid target name: labels left alone */
	{"a=some-name-0",
	 {{{"a"}, "some-([^-]+)-([^,]+)", "${3}", "${1}", "replace"}, {{"a"}, "some-([^-]+)(-[^,]+)", "${3}", "${1}", "replace"},
	  {{"a"}, "some-([^-]+)-([^,]+)", "x-${1}", "${1}", "replace"}},
	 "a=some-name-0"},
	/* several rules reading one label */
	{"tags=path:/secret,job:some-job,label:foo=bar",
	 {{{"tags"}, "(?:.+,|^)path:(/[^,]+).*", "path", "${1}", "replace"},
	  {{"tags"}, "(?:.+,|^)job:([^,]+).*", "job", "${1}", "replace"},
	  {{"tags"}, "(?:.+,|^)label:([^=]+)=([^,]+).*", "${1}", "${2}", "replace"}},
	 "foo=bar,job=some-job,path=/secret,tags=path:/secret,job:some-job,label:foo=bar"},
	/* labeldrop, then a replace sets the dropped label again, then keep on it */
	{"port_name=foo,annot_port=9091",
	 {{{NULL}, "^port_name$", NULL, NULL, "labeldrop"}, {{"annot_port"}, "(.+)", "port_name", "metrics", "replace"},
	  {{"port_name"}, "^metrics$", NULL, NULL, "keep"}},
	 "annot_port=9091,port_name=metrics"},
	/* labelkeep and labeldrop match names; __name__ must survive labelkeep to be sent */
	{"a=foo,b1=bar,b2=baz", {{{NULL}, "(b.*|__name__)", NULL, NULL, "labelkeep"}}, "b1=bar,b2=baz"},
	{"a=foo,b1=bar,b2=baz", {{{NULL}, "(b.*)", NULL, NULL, "labeldrop"}}, "a=foo"},
	{"a=foo,b1=bar", {{{NULL}, "(b.*)", NULL, NULL, "labelkeep"}}, NULL},   /* no __name__ left */
	/* replacement "" deletes; a missing source label reads as "" */
	{"a=foo,b=bar", {{{"a"}, "foo", "b", "", "replace"}}, "a=foo"},
	{"a=foo", {{{"zz"}, "", "b", "empty", "replace"}}, "a=foo,b=empty"},
	/* defaults: regex (.*), replacement $1, separator ; */
	{"a=x,b=y", {{{"a", "b"}, NULL, "c", NULL, "replace"}}, "a=x,b=y,c=x;y"},
	/* Go's expansion: $1x names group "1x" (empty), $$ is a dollar */
	{"a=foo", {{{"a"}, "(f)(o+)", "b", "$1x-${1}x-$$-$2", "replace"}}, "a=foo,b=-fx-$-oo"},
	/* Go's regexp.Expand to the letter: "$01" is the group *named* "01" (a number has no
	 * leading zero), "${1 }" and "${}" do not close at once and stay text, "$-" too. */
	{"a=foo", {{{"a"}, "(f)(o+)", "b", "[$01][${1 }][${}][$-][${2}]", "replace"}}, "a=foo,b=[][${1 }][${}][$-][oo]"},
	{"a=foo", {{{"a"}, "(f)(o+)", "b", "$1$", "replace"}}, "a=foo,b=f$"},
	{"a=foo", {{{"a"}, "(?P<x01>f)(o+)", "b", "${x01}+$100000000", "replace"}}, "a=foo,b=f+"},
	/* Decided without backtracking, as RE2 does: Prometheus drops tmp-aaaa... under this
	 * rule and keeps it under the matching keep; PCRE2's backtracking matcher gave up and
	 * called it no match. */
	{"namespace=tmp-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", {{{"namespace"}, "(\\w+-?)*-sandbox|tmp-.*", NULL, NULL, "drop"}}, NULL},
	{"namespace=tmp-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", {{{"namespace"}, "(\\w+-?)*-sandbox|tmp-.*", NULL, NULL, "keep"}},
	 "namespace=tmp-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"},
	{"namespace=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", {{{"namespace"}, "(\\w+-?)*-sandbox|tmp-.*", NULL, NULL, "keep"}}, NULL},
	/* named groups */
	{"a=2026-11", {{{"a"}, "(?P<y>[0-9]+)-(?P<m>[0-9]+)", "month", "$m/${y}", "replace"}}, "a=2026-11,month=11/2026"},
	/* a newline is not matched by . (as in RE2), and $ does not match before it */
	{"a=foo\nbar", {{{"a"}, "foo.*", NULL, NULL, "drop"}}, "a=foo\nbar"},
	{"a=foo\n", {{{"a"}, "foo", NULL, NULL, "drop"}}, "a=foo\n"},
};

/* "a=foo,b=bar" -> labels with __name__=m, sorted (values may hold ',' after the first '='
 * only in the last label). */
static size_t parse_labels(const char *text, struct jp_label *out, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%s", text);
	size_t n = 0;
	out[n++] = (struct jp_label){"__name__", "m"};
	char *p = buf;
	while (p && *p) {
		char *eq = strchr(p, '=');
		*eq = '\0';
		char *next = NULL;
		/* The value ends at the next ",name=" whose name is a label name. */
		for (char *c = strchr(eq + 1, ','); c; c = strchr(c + 1, ',')) {
			char *e2 = strchr(c + 1, '=');
			char *c2 = strchr(c + 1, ',');
			if (e2 && (!c2 || e2 < c2)) {
				char save = *e2;
				*e2 = '\0';
				int ok = jp_label_name_valid(c + 1);
				*e2 = save;
				if (ok) {
					*c = '\0';
					next = c + 1;
					break;
				}
			}
		}
		out[n++] = (struct jp_label){p, eq + 1};
		p = next;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(out[j - 1].name, out[j].name) > 0; j--) {
			struct jp_label t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

START_TEST(test_cases)
{
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		const struct tcase *tc = &cases[t];
		struct jp_relabel_config rc[MAXR];
		size_t nr = 0;
		for (; nr < MAXR && tc->r[nr].action; nr++) {
			const struct rule *r = &tc->r[nr];
			size_t ns = 0;
			while (ns < 3 && r->src[ns])
				ns++;
			rc[nr] = (struct jp_relabel_config){
				.source_labels = (char **)r->src, .nsource = ns, .separator = ";",
				.regex = (char *)(r->regex ? r->regex : "(.*)"), .target_label = (char *)(r->target ? r->target : ""),
				.replacement = (char *)(r->replacement ? r->replacement : "$1"),
				.action = jp_relabel_action_parse(r->action),
			};
		}
		struct jp_relabel_list list = {rc, nr};
		char why[256];
		struct jp_relabel *rl = jp_relabel_new(&list, why, sizeof(why));
		ck_assert_msg(rl != NULL, "case %zu: %s", t, why);
		struct jp_label in[16];
		char buf[512];
		size_t n = parse_labels(tc->in, in, buf, sizeof(buf));
		struct jp_relabel_out out = {0};
		int r = jp_relabel_apply(rl, in, n, &out);
		if (!tc->out) {
			ck_assert_msg(r == 0, "case %zu: kept, want dropped", t);
		} else {
			ck_assert_msg(r == 1, "case %zu: dropped (%d), want %s", t, r, tc->out);
			char got[512] = "";
			size_t o = 0;
			for (size_t i = 0; i < out.n; i++)
				if (strcmp(out.labels[i].name, "__name__"))
					o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s=%s", o ? "," : "",
							      out.labels[i].name, out.labels[i].value);
			ck_assert_msg(!strcmp(got, tc->out), "case %zu: got %s, want %s", t, got, tc->out);
			for (size_t i = 1; i < out.n; i++)
				ck_assert_int_lt(strcmp(out.labels[i - 1].name, out.labels[i].name), 0);
		}
		jp_relabel_out_free(&out);
		jp_relabel_free(rl);
	}
}
END_TEST

/* A pattern that backtracks exponentially: whether it matches is still decided (no
 * limit), and only the groups, which need backtracking, end at the match limit. */
START_TEST(test_pathological)
{
	char why[200];
	struct jp_regex *re = jp_regex_compile("(a|aa)+", why, sizeof(why));
	ck_assert_ptr_nonnull(re);
	char s[80];
	memset(s, 'a', sizeof(s) - 2);
	s[sizeof(s) - 2] = '!';
	s[sizeof(s) - 1] = '\0';
	int limited = 1;
	ck_assert_int_eq(jp_regex_match(re, s, strlen(s), &limited), 0);
	ck_assert_int_eq(limited, 0);
	ck_assert_int_eq(jp_regex_capture(re, s, strlen(s), &limited), 0);
	ck_assert_int_eq(limited, 1);
	s[sizeof(s) - 2] = 'a';
	ck_assert_int_eq(jp_regex_match(re, s, strlen(s), &limited), 1);
	jp_regex_free(re);

	/* A replace whose groups hit the limit: the value matches (the second branch), but
	 * the backtracking matcher, trying the first branch, gives up. The rule is left out
	 * this time, counted, and the result is marked not to be kept. */
	struct jp_relabel_config rc = {
		.source_labels = (char *[]){"a", NULL}, .nsource = 1, .separator = ";",
		.regex = "(?:(a|aa)+x|((a|aa)+)b)", .target_label = "t", .replacement = "$2", .action = JP_RELABEL_REPLACE,
	};
	struct jp_relabel_list list = {&rc, 1};
	struct jp_relabel *rl = jp_relabel_new(&list, why, sizeof(why));
	ck_assert_ptr_nonnull(rl);
	char v[120];
	memset(v, 'a', 100);
	strcpy(v + 100, "!");
	struct jp_label in[] = {{"__name__", "m"}, {"a", v}};
	struct jp_relabel_out out = {0};
	ck_assert_int_eq(jp_relabel_apply(rl, in, 2, &out), 1);
	ck_assert_int_eq(out.limited, 0);   /* no match, decided */
	ck_assert_uint_eq(jp_relabel_limit_hits(rl), 0);
	v[100] = 'b';
	ck_assert_int_eq(jp_relabel_apply(rl, in, 2, &out), 1);
	ck_assert_int_eq(out.limited, 1);
	ck_assert_uint_eq(out.n, 2);        /* no t: the rule was left out */
	ck_assert_uint_eq(jp_relabel_limit_hits(rl), 1);
	/* A short value gets its groups. */
	strcpy(v, "aaab");
	ck_assert_int_eq(jp_relabel_apply(rl, in, 2, &out), 1);
	ck_assert_int_eq(out.limited, 0);
	ck_assert_uint_eq(out.n, 3);
	ck_assert_str_eq(out.labels[2].value, "aaa");
	jp_relabel_out_free(&out);
	jp_relabel_free(rl);
	ck_assert_ptr_null(jp_regex_compile("a(b", why, sizeof(why)));
	ck_assert_msg(strstr(why, "missing closing parenthesis") != NULL, "%s", why);
	/* Invalid UTF-8 in a value is matched as bytes are, not an error. */
	re = jp_regex_compile(".*", why, sizeof(why));
	ck_assert_int_eq(jp_regex_match(re, "\xff\xfe", 2, NULL), 0);
	jp_regex_free(re);
}
END_TEST

/* The config: rules parse with their defaults, and mistakes are FILE:LINE errors. */
START_TEST(test_config)
{
	static const struct {
		const char *yaml, *err;
	} bad[] = {
		{"    write_relabel_configs:\n      - {source_labels: [namespace], regex: \"a(b\", action: keep}\n",
		 ":8: remote_write[0].write_relabel_configs[0].regex: missing closing parenthesis"},
		{"    write_relabel_configs:\n      - {action: frobnicate}\n", ":8: remote_write[0].write_relabel_configs[0].action: unknown action"},
		{"    write_relabel_configs:\n      - {regex: x}\n", "write_relabel_configs[0]: action replace needs target_label"},
		{"    write_relabel_configs:\n      - {action: keep}\n", "action keep needs source_labels"},
		{"    write_relabel_configs:\n      - {action: labeldrop, source_labels: [a]}\n", "takes only regex"},
		{"    write_relabel_configs:\n      - {action: keep, source_labels: [\"not-a-name\"]}\n", "is not a label name"},
		{"    write_relabel_configs:\n      - {action: keep, source_labels: [a], modulus: 3}\n", "modulus: unknown key"},
		{"    write_relabel_configs: {action: keep}\n", "expected a list of rules"},
	};
	const char *head = "remote_write:\n  - name: r\n    url: http://127.0.0.1:1/w\n    queue: {dir: /tmp}\n";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024], err[512] = "";
		snprintf(text, sizeof(text), "%s\n\n%s", head, bad[i].yaml);
		struct jp_config cfg;   /* jp_config_load_buffer starts from the defaults itself */
		int rc = jp_config_load_buffer(&cfg, "t.yaml", text, strlen(text), err, sizeof(err));
		ck_assert_msg(rc != 0, "case %zu accepted", i);
		ck_assert_msg(strstr(err, bad[i].err) != NULL, "case %zu: %s", i, err);
		jp_config_free(&cfg);
	}
	char text[1024], err[512] = "";
	snprintf(text, sizeof(text), "%s%s", head,
		 "    write_relabel_configs:\n"
		 "      - {source_labels: [namespace], regex: \"kube-.*\", action: drop}\n"
		 "      - {source_labels: [pod], target_label: workload}\n"
		 "      - {regex: pod_uid, action: labeldrop}\n");
	struct jp_config cfgv, *cfg = &cfgv;
	ck_assert_msg(jp_config_load_buffer(cfg, "t.yaml", text, strlen(text), err, sizeof(err)) == 0, "%s", err);
	const struct jp_relabel_list *l = &cfg->remotes[0].relabel;
	ck_assert_uint_eq(l->n, 3);
	ck_assert_int_eq(l->v[0].action, JP_RELABEL_DROP);
	ck_assert_str_eq(l->v[1].regex, "(.*)");
	ck_assert_str_eq(l->v[1].replacement, "$1");
	ck_assert_str_eq(l->v[1].separator, ";");
	ck_assert_int_eq(l->v[1].action, JP_RELABEL_REPLACE);
	ck_assert_int_eq(l->v[2].action, JP_RELABEL_LABELDROP);
	jp_config_free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("relabel");
	TCase *tc = tcase_create("relabel");
	tcase_add_test(tc, test_cases);
	tcase_add_test(tc, test_pathological);
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
