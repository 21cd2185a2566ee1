# bench.mk: benchmarks; built by `make bench-build`, run by `make bench`,
# never by the tests. bench_boot: BENCH_N hello boots. bench_net (needs
# root: it makes its own network namespace and bridge): BENCH_NET_N
# daytime boots to network up, then BENCH_VMS VMs at once for memory.
# bench_snapshot (root; not part of make bench): saves and restores of a counter VM.
# bench_clone (root; not part of make bench): save, create --from, clones per
# second and memory per clone through lightvmd's socket.
# bench_migrate (root, KVM; not part of make bench): live migrations back and
# forth between two lightvmd in two network namespaces (issue 12).
# bench_dirty (KVM; not part of make bench): dirty tracking's start, collect and stop.
# bench_load (root; not part of make bench): httpd VMs under ab while VMs
# churn, next to their idle latency and a busybox httpd peer.
# bench-pool (root; not part of make bench or make test): LightVM's
# Figure 9, BENCH_POOL_VMS daytime VMs one after another per mode (cold,
# daemon, pool) and pause/unpause; writes build/bench/fig9/.

# What every benchmark links: stats.c (timing, processes), procfs.c
# (numbers in /proc and trace files).
BENCH_COMMON := bench/stats.c bench/procfs.c
BENCH_COMMON_H := bench/stats.h bench/procfs.h

BENCH_N ?= 200
BENCH_NET_N ?= 100
BENCH_VMS ?= 20
BENCH_POOL_VMS ?= 1000

$(BUILD)/bench/bench_boot $(BUILD)/bench/bench_net: $(BUILD)/bench/%: bench/%.c $(BENCH_COMMON) \
		$(BENCH_COMMON_H)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $< $(BENCH_COMMON)

$(BUILD)/bench/hello_static $(BUILD)/bench/udp_probe: $(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -static -o $@ $<

bench-build: build-all $(BUILD)/bench/bench_boot $(BUILD)/bench/hello_static \
	$(BUILD)/bench/bench_net $(BUILD)/bench/udp_probe $(BUILD)/bench/bench_pool \
	$(BUILD)/bench/bench_api $(BUILD)/bench/bench_load $(BUILD)/bench/bench_image \
	$(BUILD)/bench/bench_cgroup \
	$(BUILD)/bench/bench_antispoof $(BUILD)/bench/bench_snapshot $(BUILD)/bench/bench_clone \
	$(BUILD)/bench/bench_dirty $(BUILD)/bench/bench_migrate

bench: deps
	@$(MAKE) --no-print-directory bench-build
	$(BUILD)/bench/bench_boot $(BUILD)/bin/lightvm $(BUILD)/guest/hello.elf \
		$(BUILD)/bench/hello_static $(BENCH_N)
	$(BUILD)/bench/bench_net $(BUILD)/bin/lightvm $(BUILD)/guest/daytime.elf \
		$(BUILD)/bench/udp_probe $(BENCH_NET_N) --vms $(BENCH_VMS)
	$(BUILD)/bench/bench_api $(BUILD)/bin/lightvmd $(BUILD)/guest/daytime.elf \
		$(BUILD)/bench/udp_probe $(BENCH_NET_N)

$(BUILD)/bench/bench_pool: bench/bench_pool.c $(BENCH_COMMON) $(BENCH_COMMON_H)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $< $(BENCH_COMMON) -ljansson

# bench_cgroup (root; not part of make bench): a VM process's cgroup, made and removed.
$(BUILD)/bench/bench_cgroup: bench/bench_cgroup.c $(BENCH_COMMON) $(BENCH_COMMON_H) \
		$(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -Iinclude -o $@ $< $(BENCH_COMMON) \
		$(BUILD)/lib/liblightvm.a $(LDLIBS)

# Users of the library: bench_image (the loader), bench_snapshot (lib/snapshot),
# bench_dirty (lightvm/dirty.h), clients
# of lightvmd's socket (lib/ctl).
$(BUILD)/bench/bench_image $(BUILD)/bench/bench_antispoof $(BUILD)/bench/bench_snapshot \
		$(BUILD)/bench/bench_dirty: $(BUILD)/bench/%: bench/%.c $(BENCH_COMMON) $(BENCH_COMMON_H) \
		$(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -Iinclude -o $@ $< $(BENCH_COMMON) \
		$(BUILD)/lib/liblightvm.a $(LDLIBS)

# bench/lvd.c: what these clients of lightvmd's socket share (the pool wait, cleanup).
# bench_clone (root; not part of make bench): snapshot clones through lightvmd (issue 11).
# bench_migrate (root; not part of make bench): live migration through two lightvmd (issue 12).
$(BUILD)/bench/bench_load $(BUILD)/bench/bench_api $(BUILD)/bench/bench_clone \
		$(BUILD)/bench/bench_migrate: $(BUILD)/bench/%: bench/%.c $(BENCH_COMMON) \
		$(BENCH_COMMON_H) bench/lvd.c bench/lvd.h $(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -Iinclude -o $@ $< $(BENCH_EXTRA) \
		$(BENCH_COMMON) bench/lvd.c $(BUILD)/lib/liblightvm.a $(LDLIBS)

# A benchmark in more than one file: its other sources in BENCH_EXTRA.
# bench_migrate: the scene test_migverbs makes too (tests/migscene.c, libc only)
# and the tests' scan of a namespace's processes (tests/nsprocs.c, libc only).
$(BUILD)/bench/bench_migrate: BENCH_EXTRA := tests/migscene.c tests/nsprocs.c
$(BUILD)/bench/bench_migrate: tests/migscene.c tests/migscene.h tests/nsprocs.c tests/nsprocs.h
# bench_clone: its lightvmd, its asks and its memory phase.
CLONE_SRCS := bench/clone_lvd.c bench/clone_ask.c bench/clone_mem.c
$(BUILD)/bench/bench_clone: BENCH_EXTRA := $(CLONE_SRCS)
$(BUILD)/bench/bench_clone: $(CLONE_SRCS) bench/bench_clone.h

bench-pool: deps
	@$(MAKE) --no-print-directory build-all $(BUILD)/bench/bench_pool $(BUILD)/bench/udp_probe
	$(BUILD)/bench/bench_pool $(BUILD)/bin/lightvm $(BUILD)/bin/lightvmd \
		$(BUILD)/guest/daytime.elf --vms $(BENCH_POOL_VMS)

.PHONY: bench bench-build bench-pool
