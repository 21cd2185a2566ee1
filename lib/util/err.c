/* err.c: one-line error messages for library callers. */
#include <stdarg.h>
#include <stdio.h>

#include "lightvm/err.h"

int lv_err_set(struct lv_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code > 0 ? -code : code;
}
