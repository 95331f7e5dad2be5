/* Numbers, sizes and durations as administrators and configuration files write them. */
#include "dmpcommon/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dmp_parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end != '\0')
        return -EINVAL;
    *v = x;
    return 0;
}

/* The decimal digits at the start of s (at least one): 0 with the value and where they end,
 * -EINVAL (no digit) or -ERANGE (above UINT64_MAX). Sizes, durations and counts share it. */
static int leading_decimal(const char *s, uint64_t *v, const char **end)
{
    size_t n = s ? strspn(s, "0123456789") : 0;
    if (n == 0)
        return -EINVAL;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -ERANGE;
        x = x * 10 + d;
    }
    *v = x;
    *end = s + n;
    return 0;
}

int dmp_parse_u64_dec(const char *s, uint64_t *v)
{
    uint64_t x;
    const char *end;
    int rc = leading_decimal(s, &x, &end);
    if (rc == 0 && *end)
        rc = -EINVAL;
    if (rc == 0)
        *v = x;
    return rc;
}

int dmp_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes)
{
    uint64_t n;
    const char *end;
    int rc = leading_decimal(s, &n, &end);
    if (rc)
        return rc;
    uint64_t unit = default_unit ? default_unit : 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'b': unit = 1; break;
        case 'k': unit = 1ULL << 10; break;
        case 'm': unit = 1ULL << 20; break;
        case 'g': unit = 1ULL << 30; break;
        case 't': unit = 1ULL << 40; break;
        default: return -EINVAL;
        }
        end++;
        /* Accept "K", "KiB", "kB" style suffixes, nothing else. */
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (n > UINT64_MAX / unit)
        return -ERANGE;
    *bytes = n * unit;
    return 0;
}

int dmp_parse_duration_ms(const char *s, uint64_t *ms)
{
    static const struct { const char *suffix; uint64_t ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "min", 60000 }, { "h", 3600000 },
    };
    size_t digits = s ? strspn(s, "0123456789") : 0;
    if (digits == 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + digits, units[i].suffix) != 0)
            continue;
        uint64_t v;
        const char *end;
        if (digits > DMP_DURATION_MAX_DIGITS || leading_decimal(s, &v, &end) != 0)
            return -ERANGE;
        *ms = v * units[i].ms;          /* < 10^12 hours in ms: no overflow */
        return 0;
    }
    return -EINVAL;
}

const char *dmp_fmt_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "kMGT";
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64, bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%" PRIu64 "%c", (uint64_t)v, units[u]);
    else
        snprintf(buf, len, "%.1f%c", v, units[u]);
    return buf;
}
