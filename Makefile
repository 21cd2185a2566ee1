# lightvm: one non-recursive GNU Makefile for the host library, the
# `lightvm` command, the guest runtime and apps, tests and benchmarks.
#
#   make            build everything (release: build/)
#   make demo       the README's main job: boot hello and show start times
#   make test       every test (sanitizer build: build/asan/), as tests/tests.list names them
#   make fuzz       each fuzz target for FUZZ_SECONDS (60); not part of make test
#   make bench      benchmarks (never run by the tests)

BUILD   ?= build
ASAN    := $(BUILD)/asan
CC      ?= gcc
WARN    := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
           -Wpointer-arith -Wwrite-strings
CFLAGS  ?= -O2 -g
HOST_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -MMD -MP
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDLIBS  := -lpthread -lnftnl -lmnl -ljansson

LIB_SRCS := lib/util/err.c lib/core/mem.c lib/core/kvm.c lib/core/vm.c lib/core/vcpu.c \
            lib/core/bootinfo.c lib/arch/x86_64.c lib/loader/elf.c lib/config/vmspec.c \
            lib/net/addr.c lib/net/tap.c lib/net/netlink.c lib/net/link.c lib/net/vif.c \
            lib/virtio/virtqueue.c lib/virtio/mmio.c lib/virtio/net.c lib/core/devices.c \
            lib/core/nic.c lib/core/warm.c lib/core/build.c lib/ctl/ctl.c
LIB_SRCS += lib/core/console.c lib/util/escape.c lib/util/token.c lib/sandbox/jail.c
LIB_SRCS += lib/sandbox/cgroup.c
LIB_SRCS += lib/net/nft.c lib/net/antispoof.c lib/net/antispoof_rule.c lib/net/antispoof_read.c \
            lib/net/fdb.c
LIB_SRCS += lib/sandbox/seccomp.c lib/sandbox/sysnames.c
LIB_SRCS += lib/snapshot/crc32c.c lib/snapshot/format.c lib/snapshot/save.c lib/snapshot/restore.c
LIB_SRCS += lib/core/resume.c lib/core/dirty.c
LIB_SRCS += lib/migrate/stream.c lib/migrate/io.c lib/migrate/send.c lib/migrate/recv.c lib/migrate/commit.c lib/migrate/local.c
CLI_SRCS := cli/main.c cli/cmd_run.c cli/run_vm.c cli/args.c cli/trace.c cli/netopt.c cli/cmd_ctl.c cli/ctl_create.c cli/ctl_print.c
DAEMON_SRCS := daemon/main.c daemon/options.c daemon/requests.c daemon/create.c daemon/migrate.c daemon/mighello.c daemon/migline.c daemon/clients.c daemon/rundir.c daemon/vmproc.c daemon/shell.c daemon/vmmigrate.c daemon/pool.c daemon/vmnet.c \
               daemon/vms.c
DAEMON_SRCS += daemon/limits.c daemon/netguard.c

LIB_OBJS      := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS      := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(ASAN)/obj/%.o)
ASAN_CLI_OBJS := $(CLI_SRCS:%.c=$(ASAN)/obj/%.o)
DAEMON_OBJS      := $(DAEMON_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(ASAN)/obj/%.o)

.PHONY: all build-all deps demo test clean guest
# Every entry point installs missing packages first, then builds in a
# sub-make, so that the compilers exist before anything is compiled.
all: deps
	@$(MAKE) --no-print-directory build-all

build-all: $(BUILD)/bin/lightvm $(BUILD)/bin/lightvmd guest

# The dependency script installs what is missing (apt-get); skipped when
# everything is there already.
deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(ASAN)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -O1 $(SAN) -c $< -o $@

$(BUILD)/lib/liblightvm.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(ASAN)/lib/liblightvm.a: $(ASAN_LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/bin/lightvm: $(CLI_OBJS) $(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN)/bin/lightvm: $(ASAN_CLI_OBJS) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/lightvmd: $(DAEMON_OBJS) $(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN)/bin/lightvmd: $(ASAN_DAEMON_OBJS) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

include guest/guest.mk
include guest/lwip/lwip.mk
include tests/tests.mk
include bench/bench.mk

demo: deps
	@$(MAKE) --no-print-directory build-all bench-build
	@scripts/demo.sh

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(ASAN_LIB_OBJS:.o=.d) $(ASAN_CLI_OBJS:.o=.d) \
	$(DAEMON_OBJS:.o=.d) $(ASAN_DAEMON_OBJS:.o=.d)
