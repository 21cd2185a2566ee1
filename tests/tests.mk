# tests.mk: the test programs (sanitizer build) and the fuzz targets
# (clang + libFuzzer), both named in tests/tests.list. Included by the
# top-level Makefile.

TEST_LIST     := tests/tests.list
# $(call listed,KIND): the names of tests/tests.list's KIND lines
listed         = $(shell awk '$$1 !~ /^\#/ && $$2 == "$(1)" { print $$1 }' $(TEST_LIST))
ALL_TESTS     := $(call listed,unit) $(call listed,kvm)
FUZZ_TARGETS  := $(call listed,fuzz)
TEST_BINS     := $(ALL_TESTS:%=$(ASAN)/tests/%)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
TEST_COMMON   := tests/lvtest.c tests/lve2e.c tests/lvcounter.c tests/nsprocs.c tests/elfgen.c
TEST_CFLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g $(SAN) -Iinclude -Itests
FUZZ_SECONDS  ?= 60
# A test is built in one compile-and-link step (no .d files): every header
# a test may include is a prerequisite of every test, so that a change to
# a header alone rebuilds them.
TEST_HDRS     := $(wildcard tests/*.h tests/*/*.h include/lightvm/*.h include/abi/*.h \
                   lib/*/*.h cli/*.h)
$(TEST_BINS) $(BUILD)/tests/test_snapshot: $(TEST_HDRS)

$(ASAN)/tests/%: tests/unit/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(ASAN_CLI_OBJS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_COMMON) $(filter-out %/main.o,$(ASAN_CLI_OBJS)) \
		$(ASAN)/lib/liblightvm.a $(LDLIBS)

$(ASAN)/tests/%: tests/kvm/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_EXTRA) $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(LDLIBS)

$(ASAN)/tests/%: tests/e2e/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_EXTRA) $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(LDLIBS)

# test_snapshot also in a release build, which test_snapshot_vg runs under
# valgrind (valgrind and the sanitizers do not mix).
$(BUILD)/tests/test_snapshot: tests/kvm/test_snapshot.c $(TEST_COMMON) $(BUILD)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g -Iinclude -Itests -o $@ $< $(TEST_EXTRA) \
		$(TEST_COMMON) $(BUILD)/lib/liblightvm.a $(LDLIBS)

# An e2e test in more than one file: its other sources in TEST_EXTRA.
$(ASAN)/tests/test_faults: TEST_EXTRA := tests/e2e/faults_image.c tests/e2e/faults_console.c \
	tests/e2e/faults_procs.c tests/e2e/faults_host.c
$(ASAN)/tests/test_faults: tests/e2e/faults_image.c tests/e2e/faults_console.c \
	tests/e2e/faults_procs.c tests/e2e/faults_host.c \
	tests/e2e/test_faults.h
# test_migverbs: its cases, its two sides, its client loop and its proxy;
# the scene of two namespaces (tests/migscene.c) bench_migrate makes too.
MIGVERBS_SRCS := tests/e2e/migverbs_sides.c tests/e2e/migverbs_loop.c \
	tests/e2e/migverbs_proxy.c tests/migscene.c
$(ASAN)/tests/test_migverbs: TEST_EXTRA := $(MIGVERBS_SRCS)
$(ASAN)/tests/test_migverbs: $(MIGVERBS_SRCS) tests/e2e/test_migverbs.h tests/migscene.h
# The KVM migration and snapshot tests share their VM and UDP helpers
# (tests/kvm/migvm.c).
MIGVM_TESTS   := $(ASAN)/tests/test_migrate $(ASAN)/tests/test_miglocal \
                 $(ASAN)/tests/test_snapshot $(BUILD)/tests/test_snapshot
$(MIGVM_TESTS): TEST_EXTRA := tests/kvm/migvm.c
$(MIGVM_TESTS): tests/kvm/migvm.c tests/kvm/migvm.h

# Fuzz targets: libFuzzer needs clang. The library is built once more with
# clang, instrumented for coverage and sanitizers (build/fuzz/liblightvm.a);
# each target links what it uses from it. -fno-sanitize-recover=all: a
# UBSan finding ends the run as a crash, like an ASan one.
CLANG         ?= clang
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# (the kernel headers' idiom of a struct with a flexible array inside another
# is a GNU extension gcc accepts silently and clang warns about)
FUZZ_CFLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) -Wno-gnu-variable-sized-type-not-at-end -g -O1 \
                 $(FUZZ_SAN) -Iinclude -Ilib
FUZZ_LIB      := $(BUILD)/fuzz/liblightvm.a
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

-include $(FUZZ_LIB_OBJS:.o=.d)

fuzz-build: build-all $(FUZZ_BINS)

# lwip-smoke: lwIP (fetched from Debian) still builds and links into a guest.
test-build: build-all $(ASAN)/bin/lightvm $(ASAN)/bin/lightvmd $(TEST_BINS) $(FUZZ_BINS) lwip-smoke \
	$(BUILD)/tests/test_snapshot

test: deps
	@$(MAKE) --no-print-directory -j2 test-build
	@BUILD=$(BUILD) tests/run.sh

# Each fuzz target for FUZZ_SECONDS from its seeds plus what earlier runs
# found (build/fuzz/corpus/NAME); not part of make test.
fuzz: deps
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@BUILD=$(BUILD) LIGHTVM_FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz

.PHONY: test-build fuzz-build fuzz
