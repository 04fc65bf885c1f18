/* httpdate.c — format and parse HTTP dates without locale or allocation. */
#include <string.h>

#include "httpdate.h"

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday"};

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* The dates the format can express: 1970-01-01 to 9999-12-31 23:59:59. */
#define HTTPDATE_MAX ((time_t)253402300799)

void httpdate_format(time_t t, char out[HTTPDATE_LEN + 1])
{
	struct tm tm;

	/* A file's mtime is anything its owner set: clamp it, so the fields stay in range. */
	if (t < 0)
		t = 0;
	if (t > HTTPDATE_MAX)
		t = HTTPDATE_MAX;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	memcpy(out, days[tm.tm_wday], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, tm.tm_mday);
	out[7] = ' ';
	memcpy(out + 8, months[tm.tm_mon], 3);
	out[11] = ' ';
	int y = tm.tm_year + 1900;
	put2(out + 12, y / 100);
	put2(out + 14, y % 100);
	out[16] = ' ';
	put2(out + 17, tm.tm_hour);
	out[19] = ':';
	put2(out + 20, tm.tm_min);
	out[22] = ':';
	put2(out + 23, tm.tm_sec);
	memcpy(out + 25, " GMT", 5); /* with the NUL */
}

/* Reads exactly n digits. */
void httpdate_cache_init(struct httpdate_cache *dc)
{
	dc->at = -1;
	dc->value[0] = '\0';
}

const char *httpdate_cache_get(struct httpdate_cache *dc, time_t now)
{
	if (now != dc->at) {
		dc->at = now;
		httpdate_format(now, dc->value);
	}
	return dc->value;
}

static int digits(const char **s, const char *end, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (*s >= end || **s < '0' || **s > '9')
			return -1;
		*v = *v * 10 + (**s - '0');
	}
	return 0;
}

static int lit(const char **s, const char *end, const char *l)
{
	size_t n = strlen(l);

	if ((size_t)(end - *s) < n || memcmp(*s, l, n) != 0)
		return -1;
	*s += n;
	return 0;
}

static int month(const char **s, const char *end, int *m)
{
	for (int i = 0; i < 12; i++)
		if (lit(s, end, months[i]) == 0) {
			*m = i;
			return 0;
		}
	return -1;
}

static int hms(const char **s, const char *end, int *h, int *mi, int *sec)
{
	if (digits(s, end, 2, h) || lit(s, end, ":") || digits(s, end, 2, mi) || lit(s, end, ":") ||
	    digits(s, end, 2, sec))
		return -1;
	return (*h > 23 || *mi > 59 || *sec > 60) ? -1 : 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int finish(int y, int mon, int d, int h, int mi, int sec, time_t *t)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (d < 1 || d > mdays[mon] || y < 1970)
		return -1;
	*t = (time_t)(days_from_civil(y, mon + 1, d) * 86400L + h * 3600L + mi * 60L + sec);
	return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int parse_imf(const char *s, const char *end, time_t *t)
{
	int d, mon, y, h, mi, sec;

	s += 3;
	if (lit(&s, end, ", ") || digits(&s, end, 2, &d) || lit(&s, end, " ") ||
	    month(&s, end, &mon) || lit(&s, end, " ") || digits(&s, end, 4, &y) ||
	    lit(&s, end, " ") || hms(&s, end, &h, &mi, &sec) || lit(&s, end, " GMT") || s != end)
		return -1;
	return finish(y, mon, d, h, mi, sec, t);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT": two-digit years are taken as 1970-2069. */
static int parse_rfc850(const char *s, const char *end, time_t *t)
{
	int d, mon, y, h, mi, sec;

	if (lit(&s, end, ", ") || digits(&s, end, 2, &d) || lit(&s, end, "-") ||
	    month(&s, end, &mon) || lit(&s, end, "-") || digits(&s, end, 2, &y) ||
	    lit(&s, end, " ") || hms(&s, end, &h, &mi, &sec) || lit(&s, end, " GMT") || s != end)
		return -1;
	y += y < 70 ? 2000 : 1900;
	return finish(y, mon, d, h, mi, sec, t);
}

/* "Sun Nov  6 08:49:37 1994" */
static int parse_asctime(const char *s, const char *end, time_t *t)
{
	int d, mon, y, h, mi, sec;

	s += 3;
	if (lit(&s, end, " ") || month(&s, end, &mon) || lit(&s, end, " "))
		return -1;
	if (s < end && *s == ' ') {
		s++;
		if (digits(&s, end, 1, &d))
			return -1;
	} else if (digits(&s, end, 2, &d)) {
		return -1;
	}
	if (lit(&s, end, " ") || hms(&s, end, &h, &mi, &sec) || lit(&s, end, " ") ||
	    digits(&s, end, 4, &y) || s != end)
		return -1;
	return finish(y, mon, d, h, mi, sec, t);
}

int httpdate_parse(const char *s, size_t len, time_t *t)
{
	const char *end = s + len;

	if (len < 4)
		return -1;
	for (int i = 0; i < 7; i++) {
		if (memcmp(s, days[i], 3) != 0)
			continue;
		if (s[3] == ',')
			return parse_imf(s, end, t);
		if (s[3] == ' ')
			return parse_asctime(s, end, t);
		const char *p = s;
		if (lit(&p, end, long_days[i]) == 0)
			return parse_rfc850(p, end, t);
		return -1;
	}
	return -1;
}
