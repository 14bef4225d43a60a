# SPDX-License-Identifier: GPL-2.0
#
# udmabuf, built into Debian's pinned 6.12 kernel tree and tested with KUnit.
#
#   make run       boot our x86_64 kernel under QEMU: demo, then selftests
#   make test      everything CI runs; ends with "total: N passed, N failed"
#   make kunit     the UML KUnit suites
#   make kunit-x86 the KUnit suites on x86_64 under QEMU (hugetlb, THP)
#   make selftest  the tree's udmabuf selftest and ours, in the VM
#                  (STOCK=1: against the untouched 6.12 driver)
#   make bench     our driver against the stock one in the VM: tables, plot
#   make profile   ftrace's function profiler on create, first fault and
#                  release (guest instructions), for the bench's questions
#   make coverage  UML suites built with clang coverage: coverage/html
#   make sanitize  UML suites with KASAN, UBSAN, lockdep and debug checks
#   make stress    a debug x86_64 kernel: random stress, page migration,
#                  vgem importing, any kernel report fails
#   make client    QEMU's virtio-gpu blob resources on our driver: Debian's
#                  QEMU runs in the VM, its inner guest draws, the
#                  screendump must match (STOCK=1: on the stock kernel)
#   make lint      checkpatch --strict, W=1 and sparse on our files
#   make patches   the driver as a patch series for 6.12: build/patches/
#   make check-patches  git am, checkpatch, byte-identity, and every
#                  prefix of the series built (make test runs all but that)
#
# KDIR=/path/to/linux-6.12.y uses your own tree instead (our files are laid
# over it). BUILD=dir moves all build output (default: build/).

include tools/kernel-version.mk

SHELL := /bin/bash
# One KVM probe per make run: the VM boots of this run share its answer.
export UDMABUF_RUN_ID := $(shell date +%s.%N)
REPO := $(CURDIR)
BUILD ?= $(REPO)/build
override BUILD := $(abspath $(BUILD))
ifdef KDIR
TREE := $(abspath $(KDIR))
else
TREE := $(BUILD)/linux
endif
STOCK_TREE := $(BUILD)/linux-stock
RESULTS := $(BUILD)/results
JOBS ?= 2
KUNIT := ./tools/testing/kunit/kunit.py
KUNIT_TIMEOUT ?= 900

OUR_SOURCES := $(wildcard drivers/dma-buf/*.c drivers/dma-buf/*.h)
OUR_OBJECTS := $(patsubst %.c,%.o,$(wildcard drivers/dma-buf/udmabuf*.c))

.PHONY: all run test kunit kunit-uml kunit-x86 selftest lint deps tree \
	stock-tree vm-kernel vm-stock-kernel bench coverage sanitize clean \
	distclean patches check-patches check-patches-quick stress \
	stress-run vm-debug-kernel profile vm-profile-kernel client floor-module \
	client-run client-guest-kernel

all: run

VM_PACKAGES := qemu-system-x86 gzip rsync gnuplot-nox clang lld llvm lcov \
	netpbm
deps:
	@tools/install-deps.sh $(KERNEL_PKG) $(KERNEL_PKG_VERSION) $(VM_PACKAGES)

tree: deps
	@tools/prepare-tree.sh $(TREE) $(KERNEL_PKG_VERSION)

stock-tree: deps
	@KDIR= tools/prepare-tree.sh $(STOCK_TREE) $(KERNEL_PKG_VERSION) --stock

# One kunit.py run (name, build folder, options[, environment]); its JSON
# and exit code feed the total. modpost's warnings about clang's coverage
# sections, 500 MB of them, are counted instead of printed.
define kunit_run
	@mkdir -p $(RESULTS)
	@rm -f $(RESULTS)/$(1).json
	@echo "== kunit $(1) =="
	@cd $(TREE) && set -o pipefail && $(4) $(KUNIT) run --jobs=$(JOBS) \
		--timeout=$(KUNIT_TIMEOUT) \
		--build_dir=$(2) --json=$(RESULTS)/$(1).json \
		$(3) 2>&1 | awk -f $(REPO)/tools/quiet-modpost.awk | \
		tee $(RESULTS)/$(1).log; \
		echo $$? >$(RESULTS)/$(1).exit
endef

kunit-uml: tree
	$(call kunit_run,uml,$(BUILD)/uml,--kunitconfig=$(REPO)/.kunitconfig)

kunit: kunit-uml
	@tools/kunit-total.py uml=$(RESULTS)/uml.json:$$(cat $(RESULTS)/uml.exit)

# The x86_64 kernel: tinyconfig plus our fragment; built once, reused by the
# VM runs and by kunit.py (which keeps a .config that covers its kunitconfig
# when last_used_kunitconfig says nothing changed).
VM_FRAGMENT := $(REPO)/lib/kunit-configs/x86_64-vm.config
VM_BUILD := $(BUILD)/vm
VM_STOCK_BUILD := $(BUILD)/vm-stock
define vm_kernel
	@tools/vm/config.sh $(1) $(2) $(or $(4),$(VM_FRAGMENT)) $(3)
	@echo "== building x86_64 kernel in $(2) =="
	@$(MAKE) -s -C $(1) O=$(2) ARCH=x86_64 -j$(JOBS) bzImage
endef

# $(1): a fragment of lib/kunit-configs/ laid over the VM's; written to
# $(2) only when it changes, so that config.sh keeps the build's .config.
define vm_fragment
	@mkdir -p $(BUILD)
	@cat $(VM_FRAGMENT) $(REPO)/lib/kunit-configs/$(1) >$(2).new
	@cmp -s $(2).new $(2) || mv $(2).new $(2)
	@rm -f $(2).new
endef

vm-kernel: tree
	$(call vm_kernel,$(TREE),$(VM_BUILD))

vm-stock-kernel: stock-tree
	$(call vm_kernel,$(STOCK_TREE),$(VM_STOCK_BUILD),--stock)

SELFTESTS := udmabuf,udmabuf-uapi
ifdef STOCK
selftest: vm-stock-kernel
	@tools/vm/run-vm.sh $(STOCK_TREE) $(VM_STOCK_BUILD) $(RESULTS) \
		vm-stock $(SELFTESTS); echo $$? >$(RESULTS)/vm-stock.exit
	@tools/kunit-total.py \
		vm-stock=$(RESULTS)/vm-stock.json:$$(cat $(RESULTS)/vm-stock.exit)
else
selftest: vm-kernel
	@mkdir -p $(RESULTS)
	@tools/vm/run-vm.sh $(TREE) $(VM_BUILD) $(RESULTS) vm $(SELFTESTS); \
		echo $$? >$(RESULTS)/vm.exit
endif

# The debug kernel of make stress: the VM fragment plus every checker
# (lib/kunit-configs/x86_64-debug.config), in a build folder of its own.
VM_DEBUG_BUILD := $(BUILD)/vm-debug
VM_DEBUG_FRAGMENT := $(BUILD)/x86_64-vm-debug.config
vm-debug-kernel: tree
	$(call vm_fragment,x86_64-debug.config,$(VM_DEBUG_FRAGMENT))
	$(call vm_kernel,$(TREE),$(VM_DEBUG_BUILD),,$(VM_DEBUG_FRAGMENT))

# Stress, page migration and a real importer, on the debug kernel, in two
# boots. First the seeded random stress (STRESS=seed:seconds:threads) and
# vgem importing buffers under the DMA-API debugger. Then the migration of
# pinned pages out of ZONE_MOVABLE (movablecore=) beside a CMA area, with
# no hugetlb pool: 6.12 puts boot-time huge pages in ZONE_MOVABLE, and
# pinning those livelocks in memfd_pin_folios() (see the README). Any
# kernel report in either console fails.
STRESS ?= 1:120:4
STRESS_PROGRAMS := stress:$(STRESS),udmabuf-uapi:-t:vgem_imports_a_shmem_buffer:-t:vgem_imports_a_hugetlb_buffer
stress-run: vm-debug-kernel
	@mkdir -p $(RESULTS)
	@VM_MEM=2G VM_HUGEPAGES=64 tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) \
		$(RESULTS) stress $(STRESS_PROGRAMS) cma=0; \
		echo $$? >$(RESULTS)/stress.exit
	@VM_MEM=2G VM_HUGEPAGES=0 tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) \
		$(RESULTS) migrate migrate "movablecore=1G cma=128M"; \
		echo $$? >$(RESULTS)/migrate.exit
	@grep -hE '^(stress|migrate): ' $(RESULTS)/stress-console.log \
		$(RESULTS)/migrate-console.log | grep -vE 'MemFree|at [0-9]+ s:' || true

stress: stress-run
	@tools/kunit-total.py \
		stress=$(RESULTS)/stress.json:$$(cat $(RESULTS)/stress.exit) \
		migrate=$(RESULTS)/migrate.json:$$(cat $(RESULTS)/migrate.exit)

# The real client: Debian's qemu-system-x86_64 inside our VM hosts an inner
# guest (a kernel of its own: tinyconfig, virtio-gpu, fbdev) whose
# framebuffer is a blob resource, so QEMU makes it a udmabuf and reads the
# pixels through its mapping. The screendump is kept as PNG.
CLIENT_GUEST_BUILD := $(BUILD)/client-guest
client-guest-kernel: tree
	$(call vm_kernel,$(TREE),$(CLIENT_GUEST_BUILD),,$(REPO)/lib/kunit-configs/x86_64-client-guest.config)

ifdef STOCK
CLIENT_LABEL := client-stock
client-run: vm-stock-kernel client-guest-kernel
	@tools/vm/client.sh $(STOCK_TREE) $(VM_STOCK_BUILD) \
		$(CLIENT_GUEST_BUILD) $(RESULTS) $(CLIENT_LABEL); \
		echo $$? >$(RESULTS)/$(CLIENT_LABEL).exit
else
CLIENT_LABEL := client
client-run: vm-kernel client-guest-kernel
	@mkdir -p $(RESULTS)
	@tools/vm/client.sh $(TREE) $(VM_BUILD) $(CLIENT_GUEST_BUILD) \
		$(RESULTS) $(CLIENT_LABEL); \
		echo $$? >$(RESULTS)/$(CLIENT_LABEL).exit
endif

client: client-run
	@tools/kunit-total.py $(CLIENT_LABEL)=$(RESULTS)/$(CLIENT_LABEL).json:$$(cat $(RESULTS)/$(CLIENT_LABEL).exit)

# kunit.py on x86_64 with the VM kernel's build folder; KVM if the VM's
# probe found it usable. 2 MiB and one 1 GiB hugetlb pages, and a CPU with
# 1 GiB leaves, for the huge-mapping cases.
KUNIT_X86_CONFIG := $(VM_BUILD)/last_used_kunitconfig
kunit-x86: vm-kernel
	@( printf 'CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n'; \
	   cat $(REPO)/.kunitconfig ) >$(KUNIT_X86_CONFIG)
	$(call kunit_run,x86_64,$(VM_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="hugepages=16 hugepagesz=1G hugepages=1" \
		--qemu_args="-m 2560 $$(grep -qx KVM $(RESULTS)/accel \
		   2>/dev/null && echo -accel kvm -cpu host || \
		   echo -cpu qemu64,+pdpe1gb)")

# Benchmark: our driver and the stock one, side by side; measures only.
bench: vm-kernel vm-stock-kernel floor-module
	@FLOOR_KERNEL=$(VM_PROFILE_BUILD) FLOOR_LIST=$(FLOOR_BUILD)/initramfs.list \
		tools/vm/bench.sh $(TREE) $(VM_BUILD) $(STOCK_TREE) \
		$(VM_STOCK_BUILD) $(BUILD)/bench

# Profile: where create, the first mmap + touch and release spend their
# time, by ftrace's function profiler in a kernel of its own, counted in
# guest instructions (-icount). Measures only; not part of make test.
VM_PROFILE_BUILD := $(BUILD)/vm-profile
VM_PROFILE_FRAGMENT := $(BUILD)/x86_64-vm-profile.config
vm-profile-kernel: tree
	$(call vm_fragment,x86_64-profile.config,$(VM_PROFILE_FRAGMENT))
	$(call vm_kernel,$(TREE),$(VM_PROFILE_BUILD),,$(VM_PROFILE_FRAGMENT))

# The floor (tools/vm/floor/): an external module of the profile kernel
# only, built in a copy under $(BUILD)/floor; make bench and make profile
# put it in the initramfs.
FLOOR_BUILD := $(BUILD)/floor
floor-module: vm-profile-kernel
	@mkdir -p $(FLOOR_BUILD)
	@cp -u tools/vm/floor/Kbuild tools/vm/floor/udmabuf_floor.c $(FLOOR_BUILD)/
	@$(MAKE) -s -C $(TREE) O=$(VM_PROFILE_BUILD) ARCH=x86_64 \
		KBUILD_EXTRA_SYMBOLS=$(VM_PROFILE_BUILD)/vmlinux.symvers \
		M=$(FLOOR_BUILD) modules 2>&1 | grep -v 'Module.symvers\|^  ' || true
	@printf '%s\n' "dir /lib 0755 0 0" "file /lib/udmabuf_floor.ko \
		$(FLOOR_BUILD)/udmabuf_floor.ko 0644 0 0" >$(FLOOR_BUILD)/initramfs.list

profile: floor-module
	@mkdir -p $(BUILD)/profile
	@VM_ICOUNT=1 VM_HUGEPAGES=16 VM_EXTRA_LIST=$(FLOOR_BUILD)/initramfs.list \
		tools/vm/run-vm.sh $(TREE) \
		$(VM_PROFILE_BUILD) $(BUILD)/profile profile profile \
		udmabuf.size_limit_mb=1024 >/dev/null; \
		grep -hE '^(PHASE|PROFILE|FLOOR)' $(BUILD)/profile/profile-console.log

# Coverage: the UML suites in a clang build (see coverage-uml.config for
# why clang), lcov + HTML under coverage/, a floor that make test enforces.
COVERAGE_BUILD := $(BUILD)/coverage
coverage: tree
	@rm -f $(COVERAGE_BUILD)/default.profraw
	@mkdir -p $(COVERAGE_BUILD)
	$(call kunit_run,coverage,$(COVERAGE_BUILD),--make_options=LLVM=1 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kunitconfig=$(REPO)/lib/kunit-configs/coverage-uml.config,\
		LLVM_PROFILE_FILE=$(COVERAGE_BUILD)/default.profraw)
	@tools/coverage.sh $(TREE) $(COVERAGE_BUILD) \
		$(COVERAGE_BUILD)/default.profraw $(REPO)/coverage \
		$(REPO)/coverage/floor $(RESULTS)/coverage-floor.json; \
		echo $$? >$(RESULTS)/coverage-floor.exit
	@echo "coverage: open coverage/html/index.html"

# Sanitizers: the UML suites with KASAN, UBSAN, DEBUG_VM, lockdep,
# DEBUG_LIST and DEBUG_SG; any report in the kernel log fails.
sanitize: tree
	$(call kunit_run,sanitize,$(BUILD)/sanitize,\
		--kunitconfig=$(REPO)/.kunitconfig \
		--kunitconfig=$(REPO)/lib/kunit-configs/sanitize-uml.config)
	@tools/sanitize-check.sh $(BUILD)/sanitize/test.log \
		$(RESULTS)/sanitize-reports.json; \
		echo $$? >$(RESULTS)/sanitize-reports.exit

# Lint: each check is one case in the total.
lint: tree
	@mkdir -p $(RESULTS)
	@tools/lint.sh $(TREE) $(BUILD)/lint $(JOBS) $(RESULTS)/lint.json; \
		echo $$? >$(RESULTS)/lint.exit

# The patch series: generated from tools/patches/ and our files into a
# throw-away git repository of the pristine tree.
PATCHES_GIT := $(BUILD)/patches-git
PATCHES := $(BUILD)/patches
patches: deps
	@tools/patches/make-series.sh $(PATCHES_GIT) $(PATCHES) \
		$(KERNEL_PKG_VERSION)

define check_patches
	@mkdir -p $(RESULTS)
	@UML_JSON=$(RESULTS)/uml.json tools/patches/check-series.sh \
		$(PATCHES_GIT) $(PATCHES) $(RESULTS)/patches.json $(1); \
		echo $$? >$(RESULTS)/patches.exit
endef

check-patches: patches
	$(call check_patches,--full $(JOBS))
	@tools/kunit-total.py \
		patches=$(RESULTS)/patches.json:$$(cat $(RESULTS)/patches.exit)

check-patches-quick: patches
	$(call check_patches)

test: kunit-uml lint selftest kunit-x86 sanitize coverage check-patches-quick \
	stress-run client-run
	@tools/kunit-total.py \
		client=$(RESULTS)/client.json:$$(cat $(RESULTS)/client.exit) \
		stress=$(RESULTS)/stress.json:$$(cat $(RESULTS)/stress.exit) \
		migrate=$(RESULTS)/migrate.json:$$(cat $(RESULTS)/migrate.exit) \
		patches=$(RESULTS)/patches.json:$$(cat $(RESULTS)/patches.exit) \
		sanitize=$(RESULTS)/sanitize.json:$$(cat $(RESULTS)/sanitize.exit) \
		sanitize-reports=$(RESULTS)/sanitize-reports.json:$$(cat $(RESULTS)/sanitize-reports.exit) \
		coverage=$(RESULTS)/coverage.json:$$(cat $(RESULTS)/coverage.exit) \
		coverage-floor=$(RESULTS)/coverage-floor.json:$$(cat $(RESULTS)/coverage-floor.exit) \
		uml=$(RESULTS)/uml.json:$$(cat $(RESULTS)/uml.exit) \
		lint=$(RESULTS)/lint.json:$$(cat $(RESULTS)/lint.exit) \
		vm=$(RESULTS)/vm.json:$$(cat $(RESULTS)/vm.exit) \
		x86_64=$(RESULTS)/x86_64.json:$$(cat $(RESULTS)/x86_64.exit)

run: vm-kernel
	@mkdir -p $(RESULTS)
	@tools/vm/run-vm.sh $(TREE) $(VM_BUILD) $(RESULTS) run \
		demo,$(SELFTESTS) >$(RESULTS)/run.report; \
		status=$$?; \
		echo; echo "== what ran inside the VM =="; \
		grep -E '^(==== (BEGIN|END)|demo:|ok |not ok )' \
			$(RESULTS)/run-console.log; \
		echo; echo "== report =="; grep -E '^(vm|run):' $(RESULTS)/run.report; \
		exit $$status

clean:
	rm -rf $(BUILD)/uml $(BUILD)/lint $(BUILD)/vm $(BUILD)/vm-stock \
		$(BUILD)/client-guest \
		$(BUILD)/vm-debug $(BUILD)/patches $(BUILD)/patches-git \
		$(BUILD)/coverage $(BUILD)/sanitize $(RESULTS)

distclean:
	rm -rf $(BUILD)
