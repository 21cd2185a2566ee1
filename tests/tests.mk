# tests.mk: test programs (sanitizer build) and the fuzz target.
# Included by the top-level Makefile.

TEST_COMMON   := tests/lvtest.c tests/elfgen.c
UNIT_TESTS    := test_elf test_boot test_virtqueue test_mmio test_vmspec test_ctl
KVM_TESTS     := test_vm test_run
# (test_valgrind, test_daytime and test_daemon need KVM: tests/run.sh runs
# them with the KVM tests, in the nested VM when there is no /dev/kvm here)
E2E_TESTS     := test_cli test_valgrind test_net test_daytime test_daemon test_faults
ALL_TESTS     := $(UNIT_TESTS) $(KVM_TESTS) $(E2E_TESTS)
TEST_BINS     := $(ALL_TESTS:%=$(ASAN)/tests/%)
TEST_CFLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) -O1 -g $(SAN) -Iinclude -Itests
CLANG         ?= clang
FUZZ_ELF      := $(BUILD)/fuzz/fuzz_elf
FUZZ_VQ       := $(BUILD)/fuzz/fuzz_vq
FUZZ_VMSPEC   := $(BUILD)/fuzz/fuzz_vmspec
FUZZ_CTL      := $(BUILD)/fuzz/fuzz_ctl

$(ASAN)/tests/%: tests/unit/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(ASAN_CLI_OBJS)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_COMMON) $(filter-out %/main.o,$(ASAN_CLI_OBJS)) \
		$(ASAN)/lib/liblightvm.a $(LDLIBS)

$(ASAN)/tests/%: tests/kvm/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(LDLIBS)

$(ASAN)/tests/%: tests/e2e/%.c $(TEST_COMMON) $(ASAN)/lib/liblightvm.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(TEST_COMMON) $(ASAN)/lib/liblightvm.a $(LDLIBS)

# libFuzzer needs clang; the library sources are built into the target.
$(FUZZ_ELF): tests/fuzz/fuzz_elf.c lib/loader/elf.c lib/core/mem.c lib/util/err.c
	@mkdir -p $(@D)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Iinclude \
		-fsanitize=fuzzer,address,undefined -o $@ $^

$(FUZZ_VQ): tests/fuzz/fuzz_vq.c lib/virtio/virtqueue.c lib/core/mem.c lib/util/err.c
	@mkdir -p $(@D)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Iinclude \
		-fsanitize=fuzzer,address,undefined -o $@ $^

$(FUZZ_VMSPEC): tests/fuzz/fuzz_vmspec.c lib/config/vmspec.c lib/net/addr.c lib/core/bootinfo.c \
		lib/core/mem.c lib/util/err.c
	@mkdir -p $(@D)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Iinclude \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -ljansson

$(FUZZ_CTL): tests/fuzz/fuzz_ctl.c lib/ctl/ctl.c lib/util/err.c
	@mkdir -p $(@D)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Iinclude \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -ljansson

# lwip-smoke: lwIP (fetched from Debian) still builds and links into a guest.
test-build: build-all $(ASAN)/bin/lightvm $(ASAN)/bin/lightvmd $(TEST_BINS) $(FUZZ_ELF) $(FUZZ_VQ) \
	$(FUZZ_VMSPEC) $(FUZZ_CTL) lwip-smoke

test: deps
	@$(MAKE) --no-print-directory -j2 test-build
	@BUILD=$(BUILD) tests/run.sh

.PHONY: test-build
