/*
 * string.h: what lwIP includes as <string.h> in the freestanding guest.
 * The functions are the runtime's (guest/rt/string.c), declared once, in
 * lvrt.h.
 */
#ifndef LVLWIP_STRING_H
#define LVLWIP_STRING_H

#include "lvrt.h"

#endif /* LVLWIP_STRING_H */
