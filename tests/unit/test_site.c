/*
 * test_site.c — which site a host name picks (server/site.h): exact names, one-label wildcards,
 * case, a trailing dot, a port, unknown names and garbage; the request's site with and without
 * a TLS server name (421 when they differ); and the checks of --site lists. Every name and Host
 * value is put right before an unreadable page, so a read past its end faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "site.h"

/* Three sites: the unnamed default one (the options before any --site), a docs site with two
 * names, and a wildcard site. */
static struct config cfg = {
    .sites =
	{
	    {.names = NULL, .root = "/srv/main"},
	    {.names = "docs.example.org,DOCS.example.net", .root = "/srv/docs"},
	    {.names = "*.example.org,example.org.", .root = "/srv/blog"},
	},
    .n_sites = 3,
    .default_site = 0,
};

static const struct {
	const char *name; /* as site_find gets it: no port */
	int site;
} find_rows[] = {
    {"docs.example.org", 1},
    {"DOCS.EXAMPLE.ORG", 1},  /* case-insensitive */
    {"docs.example.org.", 1}, /* a trailing dot is the same name */
    {"docs.example.net", 1},  /* a configured name's case does not matter either */
    {"docs.example.org..", SITE_NONE},
    {"blog.example.org", 2}, /* wildcard: one label */
    {"Blog.Example.Org.", 2},
    {"example.org", 2},		    /* configured with a trailing dot */
    {"a.b.example.org", SITE_NONE}, /* a wildcard covers one label only */
    {".example.org", SITE_NONE},    /* an empty label is not a label */
    {"example.org.evil", SITE_NONE},
    {"docs.example.org.evil", SITE_NONE},
    {"xdocs.example.org", 2}, /* not docs: the wildcard's */
    {"", SITE_NONE},
    {".", SITE_NONE},
    {"*.example.org", 2}, /* a literal star is a label like any other here */
    {"b\xc3\xbc"
     "cher.example.net",
     SITE_NONE},		      /* raw UTF-8: configured names are xn-- */
    {"xn--bcher-kva.example.org", 2}, /* the IDN's A-label */
    {"docs.example.org\0", SITE_NONE},
};

static void test_find(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof find_rows / sizeof find_rows[0]; i++) {
		const char *name = find_rows[i].name;
		size_t len = strlen(name) + (i == sizeof find_rows / sizeof find_rows[0] - 1);
		struct guard g;
		int got = site_find(cfg.sites, cfg.n_sites, guard_put(&g, name, len), len);
		if (got != find_rows[i].site)
			fail_row("site_find(\"%s\"): %d, want %d", show(name, len), got,
				 find_rows[i].site);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

static const struct {
	const char *host;
	const char *name; /* what site_host_name leaves */
} host_rows[] = {
    {"example.org", "example.org"},
    {"example.org:8443", "example.org"},
    {"example.org.:443", "example.org"},
    {"example.org.", "example.org"},
    {"[::1]:443", "[::1]"},
    {"[::1]", "[::1]"},
    {"[::1", "[::1"},
    {":443", ""},
    {"", ""},
};

static void test_host_name(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof host_rows / sizeof host_rows[0]; i++) {
		struct guard g;
		size_t len = strlen(host_rows[i].host), n;
		const char *name = site_host_name(guard_put(&g, host_rows[i].host, len), len, &n);
		if (n != strlen(host_rows[i].name) || memcmp(name, host_rows[i].name, n) != 0)
			fail_row("site_host_name(\"%s\"): \"%s\", want \"%s\"", host_rows[i].host,
				 show(name, n), host_rows[i].name);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

static const struct {
	const char *host; /* NULL: no Host field */
	int sni;	  /* -1: no server name (or plain HTTP) */
	size_t site;
	int misdirected;
} request_rows[] = {
    {"docs.example.org", -1, 1, 0},
    {"docs.example.org:80", -1, 1, 0},
    {"unknown.example.com", -1, 0, 0}, /* unknown: the default */
    {NULL, -1, 0, 0},		       /* no Host (HTTP/1.0): the default */
    {"", -1, 0, 0},		       /* an empty Host: the default */
    {"docs.example.org", 1, 1, 0},     /* SNI and Host agree */
    {"DOCS.example.org.:443", 1, 1, 0},
    {"blog.example.org", 1, 2, 1},    /* Host names another site than SNI: 421 */
    {"unknown.example.com", 1, 0, 1}, /* SNI docs, Host unknown (the default): 421 */
    {"docs.example.org", 0, 1, 1},    /* SNI unknown (the default), Host docs: 421 */
    {"unknown.example.com", 0, 0, 0}, /* both the default */
    {NULL, 2, 2, 0},		      /* no Host: the server name's site */
    {"", 1, 1, 0},
};

static void test_for_request(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof request_rows / sizeof request_rows[0]; i++) {
		const char *host = request_rows[i].host;
		size_t len = host ? strlen(host) : 0;
		struct guard g;
		int mis = -1;
		size_t got = site_for_request(&cfg, guard_put(&g, host ? host : "", len), len,
					      host != NULL, request_rows[i].sni, &mis);
		if (got != request_rows[i].site || mis != request_rows[i].misdirected)
			fail_row("Host %s, SNI site %d: site %zu misdirected %d, want %zu %d",
				 host ? host : "(none)", request_rows[i].sni, got, mis,
				 request_rows[i].site, request_rows[i].misdirected);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* The default site comes from the configuration, not from the order. */
static void test_marked_default(void **state)
{
	struct config c = cfg;
	int mis;

	(void)state;
	c.default_site = 2;
	assert_int_equal(site_for_request(&c, "nope.test", 9, 1, -1, &mis), 2);
	assert_int_equal(mis, 0);
	assert_int_equal(site_for_request(&c, NULL, 0, 0, -1, &mis), 2);
	assert_int_equal(site_for_request(&c, "docs.example.org", 16, 1, -1, &mis), 1);
}

static const struct {
	const char *names[3]; /* --site lists of up to three sites */
	const char *error;    /* NULL: valid; else a part of the message */
} check_rows[] = {
    {{"example.org", "www.example.org,*.example.net"}, NULL},
    {{"a.example.org,b.example.org"}, NULL},
    {{"xn--bcher-kva.example", "localhost"}, NULL},
    {{"example.org", "EXAMPLE.org."}, "two sites claim the name"},
    {{"*.example.org", "x.test,*.EXAMPLE.ORG"}, "two sites claim the name *.EXAMPLE.ORG"},
    {{"a.test,a.test"}, "two sites claim"},
    {{"a.test,,b.test"}, "an empty name"},
    {{"a.test,"}, "an empty name"},
    {{""}, "an empty name"},
    {{"a test"}, "not a host name"},
    {{"b\xc3\xbc"
      "cher.example"},
     "xn-- form"},
    {{"a.*.example.org"}, "not a host name"},
    {{"*example.org"}, "not a host name"},
    {{"*.org"}, "two labels"},
    {{"-a.test"}, "not a host name"},
    {{"a..test"}, "not a host name"},
    {{"a.test:443"}, "not a host name"},
};

static void test_check_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof check_rows / sizeof check_rows[0]; i++) {
		struct config_site sites[3] = {{0}};
		char err[512] = "";
		size_t n = 0;
		while (n < 3 && check_rows[i].names[n]) {
			sites[n].names = check_rows[i].names[n];
			n++;
		}
		int rc = site_check_names(sites, n, err, sizeof err);
		const char *want = check_rows[i].error;
		if (want ? rc != -1 || !strstr(err, want) : rc != 0)
			fail_row("--site %s ...: rc %d \"%s\", want %s", show(sites[0].names, 40),
				 rc, err, want ? want : "valid");
	}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_find),	   ROW_TEST(test_host_name),   ROW_TEST(test_for_request),
	    ROW_TEST(test_marked_default), ROW_TEST(test_check_names),
	};

	return cmocka_run_group_tests_name("site", tests, NULL, NULL);
}
