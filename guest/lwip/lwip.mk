# guest/lwip/lwip.mk: lwIP (NO_SYS, IPv4, TCP+UDP) as a guest library.
#
# A fragment for the top-level non-recursive GNU Makefile, included after
# guest/guest.mk (it uses BUILD, GUEST_CC, GUEST_LD, GUEST_CFLAGS,
# GUEST_LDFLAGS and GUEST_RT_OBJS): `include guest/lwip/lwip.mk`.
#
# lwIP's source is never committed: it is Debian's source package `lwip`,
# unpacked by scripts/fetch-lwip.sh into $(LWIP_SRC) (outside the tree,
# so clean clones reuse it) the first time a build needs it.
#
# Interface:
#   lwip             phony target: builds $(LWIP_LIB)
#   lwip-smoke       phony target: links $(BUILD)/guest/lwip_smoke.elf
#   lwip-clean       phony target: removes the objects, library and ELF
#   LWIP_LIB         $(BUILD)/guest/liblwip.a (lwIP core, guest/lwip/port.c, lvnet.c)
#   LWIP_SRC         unpacked lwIP tree (default /var/cache/lightvm/lwip-2.1.3)
#   LWIP_INCFLAGS    include flags an app that uses lwIP adds to its cflags
#   LWIP_CFLAGS      exactly $(GUEST_CFLAGS) + $(LWIP_INCFLAGS) (port, apps)
#   LWIP_AR          archiver (default: ar)
#   LWIP_APPS        names from GUEST_APPS that use lwIP (set before the
#                    include): their objects get $(LWIP_INCFLAGS) and wait
#                    for the fetch, their ELFs get $(LWIP_LIB) as a
#                    prerequisite (guest.mk's link recipe must pass
#                    $(filter %.a,$^) after the objects)
# Every variable is LWIP_-prefixed; rules are static pattern rules.

LWIP_VERSION := 2.1.3
LWIP_SRC ?= /var/cache/lightvm/lwip-$(LWIP_VERSION)
LWIP_AR ?= ar

LWIP_OBJDIR := $(BUILD)/guest/obj/lwip
LWIP_LIB := $(BUILD)/guest/liblwip.a
LWIP_SMOKE := $(BUILD)/guest/lwip_smoke.elf
# The file whose presence means "the tree is unpacked".
LWIP_STAMP := $(LWIP_SRC)/src/core/tcp.c

LWIP_INCFLAGS = -Iguest/lwip -Iguest/lwip/include -I$(LWIP_SRC)/src/include
LWIP_CFLAGS = $(GUEST_CFLAGS) $(LWIP_INCFLAGS)
# lwIP's own sources only (never our port or apps):
#   -fmacro-prefix-map  __FILE__ in assertion messages reads lwip/src/...
#                       instead of the absolute cache path (shorter
#                       strings, images independent of LWIP_SRC)
#   LWIP_WNO            -Wno-... flags for lwIP's code, one reason each.
#                       Empty: lwIP 2.1.3 builds warning-free with
#                       GUEST_CFLAGS (-Wall -Wextra -Werror -Wshadow
#                       -Wmissing-prototypes -Wstrict-prototypes).
LWIP_SRC_CFLAGS = $(LWIP_CFLAGS) -fmacro-prefix-map=$(LWIP_SRC)/=lwip/ \
	$(LWIP_WNO)
LWIP_WNO :=

# Relative to $(LWIP_SRC)/src. Files whose features lwipopts.h turns off
# (raw.c, stats.c, ip4_frag.c's halves) compile to (almost) nothing.
LWIP_CORE_SRCS := core/init.c core/def.c core/mem.c core/memp.c core/netif.c \
	core/pbuf.c core/raw.c core/stats.c core/sys.c core/tcp.c core/tcp_in.c \
	core/tcp_out.c core/timeouts.c core/udp.c core/inet_chksum.c core/ip.c \
	core/ipv4/ip4.c core/ipv4/ip4_addr.c core/ipv4/ip4_frag.c \
	core/ipv4/icmp.c core/ipv4/etharp.c netif/ethernet.c

LWIP_CORE_OBJS := $(LWIP_CORE_SRCS:%=$(LWIP_OBJDIR)/%.o)
LWIP_PORT_OBJS := $(LWIP_OBJDIR)/port/port.c.o $(LWIP_OBJDIR)/port/lvnet.c.o
LWIP_SMOKE_OBJ := $(LWIP_OBJDIR)/port/lwip_smoke.c.o
LWIP_OPTS_DEPS := guest/lwip/lwip.mk guest/guest.mk

.PHONY: lwip lwip-smoke lwip-clean
lwip: $(LWIP_LIB)
lwip-smoke: $(LWIP_SMOKE)

# Fetch on demand. The other source files appear with tcp.c; the empty
# recipes tell make they are made by fetching, not searched for.
$(LWIP_STAMP):
	scripts/fetch-lwip.sh $(LWIP_SRC)
$(filter-out $(LWIP_STAMP),$(LWIP_CORE_SRCS:%=$(LWIP_SRC)/src/%)): \
		| $(LWIP_STAMP) ;

$(LWIP_CORE_OBJS): $(LWIP_OBJDIR)/%.o: $(LWIP_SRC)/src/% $(LWIP_OPTS_DEPS)
	@mkdir -p $(@D)
	$(GUEST_CC) $(LWIP_SRC_CFLAGS) -MMD -MP -c -o $@ $<

# Our own sources need the lwIP headers, hence the fetch (order-only).
$(LWIP_PORT_OBJS) $(LWIP_SMOKE_OBJ): $(LWIP_OBJDIR)/port/%.c.o: guest/lwip/%.c \
		$(LWIP_OPTS_DEPS) | $(LWIP_STAMP)
	@mkdir -p $(@D)
	$(GUEST_CC) $(LWIP_CFLAGS) -MMD -MP -c -o $@ $<

$(LWIP_LIB): $(LWIP_CORE_OBJS) $(LWIP_PORT_OBJS)
	@rm -f $@
	$(LWIP_AR) rcsD $@ $^

# Link check: runtime objects, app, then the library (members on demand).
$(LWIP_SMOKE): $(LWIP_SMOKE_OBJ) $(GUEST_RT_OBJS) $(LWIP_LIB) guest/link.ld
	$(GUEST_LD) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT_OBJS) $< $(LWIP_LIB)

# Guest apps that use lwIP (see LWIP_APPS above).
LWIP_APPS ?=
$(LWIP_APPS:%=$(GUEST_OBJDIR)/apps/%.c.o): GUEST_CFLAGS += $(LWIP_INCFLAGS)
$(LWIP_APPS:%=$(GUEST_OBJDIR)/apps/%.c.o): $(LWIP_OPTS_DEPS)
$(LWIP_APPS:%=$(GUEST_OBJDIR)/apps/%.c.o): | $(LWIP_STAMP)
$(LWIP_APPS:%=$(BUILD)/guest/%.elf): $(LWIP_LIB)

lwip-clean:
	rm -rf $(LWIP_OBJDIR) $(LWIP_LIB) $(LWIP_SMOKE)

-include $(LWIP_CORE_OBJS:.o=.d) $(LWIP_PORT_OBJS:.o=.d) $(LWIP_SMOKE_OBJ:.o=.d)
