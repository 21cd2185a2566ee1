/* args.c: parsing of option values for the `lightvm` command. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int lv_parse_size(const char *s, uint64_t *bytes)
{
    char *end;
    unsigned long long v;
    unsigned shift = 20;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default:
        return -EINVAL;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end != '\0' || v == 0 || v > (~0ull >> shift))
        return -EINVAL;
    *bytes = (uint64_t)v << shift;
    return 0;
}
