# guest/guest.mk: the freestanding guest runtime and its apps.
#
# A fragment for the top-level non-recursive GNU Makefile (run from the
# repository root): `include guest/guest.mk`.
#
# Interface:
#   guest            phony target: builds $(GUEST_IMAGES)
#   guest-clean      phony target: removes $(BUILD)/guest
#   GUEST_IMAGES     $(BUILD)/guest/<app>.elf for every app of GUEST_APPS
#   BUILD            output root (default: build); objects in $(BUILD)/guest/obj
#   GUEST_CC/GUEST_LD  compiler/linker (default: gcc / ld; GCC-only flags)
# Every other variable is GUEST_-prefixed, so it does not leak into the host
# build, and all rules are static pattern rules, so a host pattern rule such
# as $(BUILD)/%.o: %.c never applies to guest files.

BUILD ?= build
GUEST_CC ?= gcc
GUEST_LD ?= ld

GUEST_OBJDIR := $(BUILD)/guest/obj

# -nostdinc plus gcc's own include dir: only the freestanding headers
# (stdint.h, stddef.h, stdarg.h, stdbool.h), include/abi and guest/include
# are visible. -fno-tree-loop-distribute-patterns stops gcc from turning
# the loops of memset/memcpy into calls to themselves.
GUEST_CFLAGS := -std=c11 -O2 -g -ffreestanding -fno-pic -fno-pie \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-mno-red-zone -mgeneral-regs-only -mno-sse -mno-mmx -mno-80387 \
	-mcmodel=small -fno-builtin -fno-tree-loop-distribute-patterns \
	-fno-omit-frame-pointer \
	-Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
	-nostdinc -isystem $(shell $(GUEST_CC) -print-file-name=include) \
	-Iinclude -Iguest/include
GUEST_ASFLAGS := -g -Iinclude -Iguest/include -D__ASSEMBLY__
GUEST_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 \
	-z noexecstack --build-id=none -T guest/link.ld

# Runtime sources in link order (entry.S first: _start opens .text).
GUEST_RT_SRCS := entry.S trap_entry.S halt.S start.c trap.c pvm.c \
	console.c printf.c clock.c apic.c heap.c string.c net.c random.c resume.c
GUEST_APPS := hello sleep selftest vqcorrupt daytime httpd memhog spoof counter dirty dirtier
# Apps linked with lwIP (guest/lwip/lwip.mk): their link adds liblwip.a.
LWIP_APPS := daytime httpd memhog spoof counter dirty dirtier

GUEST_RT_OBJS := $(GUEST_RT_SRCS:%=$(GUEST_OBJDIR)/rt/%.o)
GUEST_APP_OBJS := $(GUEST_APPS:%=$(GUEST_OBJDIR)/apps/%.c.o)
GUEST_C_OBJS := $(filter %.c.o,$(GUEST_RT_OBJS) $(GUEST_APP_OBJS))
GUEST_S_OBJS := $(filter %.S.o,$(GUEST_RT_OBJS))
GUEST_IMAGES := $(GUEST_APPS:%=$(BUILD)/guest/%.elf)

.PHONY: guest guest-clean
guest: $(GUEST_IMAGES)

$(GUEST_IMAGES): $(BUILD)/guest/%.elf: $(GUEST_OBJDIR)/apps/%.c.o \
		$(GUEST_RT_OBJS) guest/link.ld
	$(GUEST_LD) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT_OBJS) $< $(filter %.a,$^)

$(GUEST_C_OBJS): $(GUEST_OBJDIR)/%.c.o: guest/%.c guest/guest.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c -o $@ $<

$(GUEST_S_OBJS): $(GUEST_OBJDIR)/%.S.o: guest/%.S guest/guest.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -MMD -MP -c -o $@ $<

guest-clean:
	rm -rf $(BUILD)/guest

-include $(GUEST_C_OBJS:.o=.d) $(GUEST_S_OBJS:.o=.d)
