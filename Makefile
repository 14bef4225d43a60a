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
#                  (BENCH_BASE=COMMIT: our driver at COMMIT too; BENCH_STABLE=1:
#                  guest instructions; BENCH_FLOOR=1: the floor's boot)
#   make profile   ftrace's function profiler on create, first fault and
#                  release (guest instructions), for the bench's questions
#   make coverage  UML suites built with clang coverage: coverage/html
#   make sanitize  UML suites with KASAN, UBSAN, lockdep and debug checks
#   make stress    a debug x86_64 kernel: random stress, page migration,
#                  vgem importing, any kernel report fails
#   make client    QEMU's virtio-gpu blob resources on our driver: Debian's
#                  QEMU runs in the VM, its inner guest draws, the
#                  screendump must match (STOCK=1: on the stock kernel)
#   make distro    our driver in Debian's own 6.12 config, modules off:
#                  built (niced) and booted with the selftests and stress
#   make swiotlb   the CPU brackets and importers under swiotlb=force
#   make v4l2      udmabufs queued to vivid (V4L2): capture into them,
#                  output from them looped back (STOCK=1: stock driver)
#   make lint      checkpatch --strict, W=1 and sparse on our files
#   make patches   the driver as a patch series for 6.12: build/patches/
#   make check-patches  git am, checkpatch, byte-identity, and every
#                  prefix of the series built (make test runs all but that)
#   make mutants   mutation score: mutants of the driver against UML KUnit,
#                  survivors on x86_64 KUnit (MUTANTS_VM=1: and the VM's
#                  selftests); hours, so make test does not run it
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

.PHONY: all run test kunit kunit-uml kunit-x86 kunit-x86-debug selftest lint \
	deps tree stock-tree vm-kernel vm-stock-kernel bench coverage sanitize clean \
	distclean patches check-patches check-patches-quick stress \
	stress-run vm-debug-kernel profile vm-profile-kernel client floor-module \
	vm-bench-kernel vm-bench-stock-kernel vm-bench-base-kernel base-tree \
	client-run client-guest-kernel distro test-stages swiotlb v4l2 v4l2-run \
	mutants

all: run

VM_PACKAGES := qemu-system-x86 gzip rsync gnuplot-nox clang lld llvm lcov \
	netpbm
deps:
	@tools/install-deps.sh $(KERNEL_PKG) $(KERNEL_PKG_VERSION) $(VM_PACKAGES)

tree: deps
	@tools/prepare-tree.sh $(TREE) $(KERNEL_PKG_VERSION)

stock-tree: deps
	@KDIR= tools/prepare-tree.sh $(STOCK_TREE) $(KERNEL_PKG_VERSION) --stock

# Before a stage runs, its results of an earlier run go (NAME.json and
# NAME.exit of each name): a stage that does not get to write new ones
# fails in the total (tools/kunit-total.py, over stages NAME[:KIND]).
define fresh
	@mkdir -p $(RESULTS)
	@rm -f $(foreach n,$(1),$(RESULTS)/$(n).json $(RESULTS)/$(n).exit)
endef
TOTAL = tools/kunit-total.py --results=$(RESULTS) --tree=$(TREE)

# One kunit.py run (name, build folder, options[, environment]); its JSON
# and exit code feed the total. modpost's warnings about clang's coverage
# sections, 500 MB of them, are counted instead of printed.
define kunit_run
	$(call fresh,$(1))
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
	@$(TOTAL) uml:kunit

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

SELFTESTS := udmabuf,udmabuf-uapi,udmabuf-mapping
# One 1 GiB page, and a CPU that maps it, for the mapping matrix.
GIGANTIC_CMDLINE := hugepagesz=1G hugepages=1
GIGANTIC_QEMU := -cpu qemu64,+pdpe1gb
ifdef STOCK
selftest: vm-stock-kernel
	$(call fresh,vm-stock)
	@tools/vm/run-vm.sh $(STOCK_TREE) $(VM_STOCK_BUILD) $(RESULTS) \
		vm-stock $(SELFTESTS); echo $$? >$(RESULTS)/vm-stock.exit
	@$(TOTAL) vm-stock:vm=$(SELFTESTS)
else
selftest: vm-kernel
	$(call fresh,vm)
	@VM_QEMU_ARGS="$(GIGANTIC_QEMU)" tools/vm/run-vm.sh $(TREE) $(VM_BUILD) \
		$(RESULTS) vm $(SELFTESTS) "$(GIGANTIC_CMDLINE)"; \
		echo $$? >$(RESULTS)/vm.exit
endif

# The CPU bracket under swiotlb=force (as in confidential guests): writers
# racing write-only brackets lose nothing, importers and brackets keep the
# DMA-API debugger silent.
SWIOTLB_PROGRAMS := udmabuf-uapi:-t:sync_write_brackets_race:-t:dma_buf_sync:-t:first_sync_from_eight_threads:-t:write_only_sync_then_close:-t:vgem_imports_a_shmem_buffer
swiotlb: vm-kernel
	$(call fresh,swiotlb)
	@tools/vm/run-vm.sh $(TREE) $(VM_BUILD) $(RESULTS) swiotlb \
		$(SWIOTLB_PROGRAMS) swiotlb=force; echo $$? >$(RESULTS)/swiotlb.exit

# The second real client: udmabufs queued to vivid, V4L2's virtual capture
# and output device, one instance per vb2 allocator (vmalloc, dma-contig):
# capture into them, output from them looped back to the capture, CPU
# brackets, no pin left (tools/vm/v4l2.c). 2 GiB keeps every page below
# 4 GiB, inside dma-contig's 32-bit DMA mask.
V4L2_CMDLINE := vivid.n_devs=2 vivid.allocators=0,1 vivid.node_types=0x101,0x101
ifdef STOCK
V4L2_LABEL := v4l2-stock
v4l2-run: vm-stock-kernel
	$(call fresh,$(V4L2_LABEL))
	@VM_MEM=2G VM_HUGEPAGES=32 tools/vm/run-vm.sh $(STOCK_TREE) \
		$(VM_STOCK_BUILD) $(RESULTS) $(V4L2_LABEL) v4l2 "$(V4L2_CMDLINE)"; \
		echo $$? >$(RESULTS)/$(V4L2_LABEL).exit
else
V4L2_LABEL := v4l2
v4l2-run: vm-kernel
	$(call fresh,$(V4L2_LABEL))
	@VM_MEM=2G VM_HUGEPAGES=32 tools/vm/run-vm.sh $(TREE) $(VM_BUILD) \
		$(RESULTS) $(V4L2_LABEL) v4l2 "$(V4L2_CMDLINE)"; \
		echo $$? >$(RESULTS)/$(V4L2_LABEL).exit
endif

v4l2: v4l2-run
	@$(TOTAL) $(V4L2_LABEL):vm=v4l2

# The debug kernel of make stress: the VM fragment plus every checker
# (lib/kunit-configs/x86_64-debug.config), in a build folder of its own.
VM_DEBUG_BUILD := $(BUILD)/vm-debug
DEBUG_GIGANTIC := $(GIGANTIC_CMDLINE) hugetlb_free_vmemmap=off
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
# kernel report in either console fails. Both boot with full preemption
# (preempt=full; the boot check expects it). The first reserves a 1 GiB
# page for the mapping matrix, without vmemmap optimisation:
# 6.12's DEBUG_VM warns when it optimises a boot-time 1 GiB page's vmemmap.
STRESS ?= 1:120:4
STRESS_PROGRAMS := udmabuf-mapping,stress:$(STRESS),udmabuf-uapi:-t:vgem_imports_a_shmem_buffer:-t:vgem_imports_a_hugetlb_buffer
stress-run: vm-debug-kernel
	$(call fresh,stress migrate)
	@VM_MEM=5G VM_HUGEPAGES=256 VM_QEMU_ARGS="$(GIGANTIC_QEMU)" \
		tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) $(RESULTS) stress \
		$(STRESS_PROGRAMS) "preempt=full cma=0 $(DEBUG_GIGANTIC)"; \
		echo $$? >$(RESULTS)/stress.exit
	@VM_MEM=2G VM_HUGEPAGES=0 tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) \
		$(RESULTS) migrate migrate "preempt=full movablecore=1G cma=128M"; \
		echo $$? >$(RESULTS)/migrate.exit
	@grep -hE '^(stress|migrate): ' $(RESULTS)/stress-console.log \
		$(RESULTS)/migrate-console.log | grep -vE 'MemFree|at [0-9]+ s:' || true

stress: stress-run
	@$(TOTAL) stress:vm=$(STRESS_PROGRAMS) migrate:vm=migrate

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
	$(call fresh,$(CLIENT_LABEL))
	@tools/vm/client.sh $(STOCK_TREE) $(VM_STOCK_BUILD) \
		$(CLIENT_GUEST_BUILD) $(RESULTS) $(CLIENT_LABEL); \
		echo $$? >$(RESULTS)/$(CLIENT_LABEL).exit
else
CLIENT_LABEL := client
client-run: vm-kernel client-guest-kernel
	$(call fresh,$(CLIENT_LABEL))
	@tools/vm/client.sh $(TREE) $(VM_BUILD) $(CLIENT_GUEST_BUILD) \
		$(RESULTS) $(CLIENT_LABEL); \
		echo $$? >$(RESULTS)/$(CLIENT_LABEL).exit
endif

client: client-run
	@$(TOTAL) $(CLIENT_LABEL):vm=client

# Our driver on Debian's own 6.12 configuration (the config of this
# release's linux-image-6.12.*-amd64-unsigned, every module off), built
# niced in a folder of its own and booted: selftests, udmabuf-mapping, a
# short stress, and make client's path when its guest kernel is built.
distro: tree
	@JOBS=$(JOBS) tools/vm/distro.sh $(TREE) $(BUILD)/distro \
		$(BUILD)/distro-run $(KERNEL_PKG_VERSION) $(CLIENT_GUEST_BUILD)

# kunit.py on x86_64 with the VM kernel's build folder; KVM if the VM's
# probe found it usable, else multi-threaded TCG. 4 CPUs; 2 MiB and one
# 1 GiB hugetlb pages, and a CPU with 1 GiB leaves, for the huge-mapping
# cases. Any kernel report in the kernel's log (kunit.py's test.log, kept
# as $(RESULTS)/NAME-kernel.log) fails the case NAME-reports.
KUNIT_X86_CONFIG := $(VM_BUILD)/last_used_kunitconfig
KUNIT_X86_QEMU = -smp 4 $$(grep -qx KVM $(RESULTS)/accel 2>/dev/null && \
	echo -accel kvm -cpu host || \
	echo -accel tcg,thread=multi -cpu qemu64,+pdpe1gb)
define kunit_reports
	@cp $(2)/test.log $(RESULTS)/$(1)-kernel.log 2>/dev/null || \
		rm -f $(RESULTS)/$(1)-kernel.log
	@tools/vm/kernel_reports.py $(RESULTS)/$(1)-kernel.log \
		$(RESULTS)/$(1)-reports.json $(1)-reports; \
		echo $$? >$(RESULTS)/$(1)-reports.exit
endef

kunit-x86: vm-kernel
	$(call fresh,x86_64 x86_64-reports)
	@( printf 'CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n'; \
	   cat $(REPO)/.kunitconfig ) >$(KUNIT_X86_CONFIG)
	@rm -f $(VM_BUILD)/test.log
	$(call kunit_run,x86_64,$(VM_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="hugepages=16 hugepagesz=1G hugepages=1" \
		--qemu_args="-m 2560 $(KUNIT_X86_QEMU)")
	$(call kunit_reports,x86_64,$(VM_BUILD))

# The same suites on make stress's debug kernel (KASAN, lockdep, DEBUG_VM,
# kmemleak...), with full preemption as make stress boots it, its 1 GiB
# page as make stress reserves it, and room for KASAN's shadow (an eighth
# of the memory). The hung-task detector (30 s in the debug kernel) waits
# longer: the runner waits on a case for a minute under TCG and KASAN.
kunit-x86-debug: vm-debug-kernel
	$(call fresh,x86_64-debug x86_64-debug-reports)
	@( printf 'CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n'; \
	   cat $(REPO)/.kunitconfig ) >$(VM_DEBUG_BUILD)/last_used_kunitconfig
	@rm -f $(VM_DEBUG_BUILD)/test.log
	$(call kunit_run,x86_64-debug,$(VM_DEBUG_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="preempt=full hugepages=16 $(DEBUG_GIGANTIC) \
			sysctl.kernel.hung_task_timeout_secs=600" \
		--qemu_args="-m 3072 $(KUNIT_X86_QEMU)")
	$(call kunit_reports,x86_64-debug,$(VM_DEBUG_BUILD))

# Benchmark: our driver and the stock one, side by side; measures only.
# Its kernels are the VM's without KUnit, fault injection, allocation
# profiling and the DMA-API debugger, with Debian's hardening
# (lib/kunit-configs/x86_64-bench.config), each in a build folder of its
# own. BENCH_BASE=COMMIT adds our driver as it was at that commit ("base":
# the repository's files of COMMIT laid over a tree of their own by that
# commit's prepare-tree.sh), for before/after figures. BENCH_FLOOR=1 adds
# the floor's boot (make profile's kernel, built for it).
VM_BENCH_FRAGMENT := $(BUILD)/x86_64-vm-bench.config
VM_BENCH_BUILD := $(BUILD)/vm-bench
VM_BENCH_STOCK_BUILD := $(BUILD)/vm-bench-stock
VM_BENCH_BASE_BUILD := $(BUILD)/vm-bench-base
BASE_TREE := $(BUILD)/linux-base
BASE_SRC := $(BUILD)/base-src
vm-bench-kernel: tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(TREE),$(VM_BENCH_BUILD),,$(VM_BENCH_FRAGMENT))

vm-bench-stock-kernel: stock-tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(STOCK_TREE),$(VM_BENCH_STOCK_BUILD),--stock,$(VM_BENCH_FRAGMENT))

# A new commit gets a fresh tree (files of the old one are not left over).
base-tree: deps
	@[ -n "$(BENCH_BASE)" ] || { echo "base-tree: set BENCH_BASE=COMMIT" >&2; exit 1; }
	@commit=$$(git -C $(REPO) rev-parse --verify -q "$(BENCH_BASE)^{commit}") || \
		{ echo "base-tree: $(BENCH_BASE) is no commit" >&2; exit 1; }; \
	if [ "$$(cat $(BASE_SRC)/.udmabuf-commit 2>/dev/null)" != "$$commit" ]; then \
		echo "base-tree: the repository at $$commit in $(BASE_SRC)"; \
		rm -rf $(BASE_SRC) $(BASE_TREE) && mkdir -p $(BASE_SRC) && \
		git -C $(REPO) archive "$$commit" | tar -x -C $(BASE_SRC) && \
		echo "$$commit" >$(BASE_SRC)/.udmabuf-commit; \
	fi
	@KDIR= $(BASE_SRC)/tools/prepare-tree.sh $(BASE_TREE) $(KERNEL_PKG_VERSION)

vm-bench-base-kernel: base-tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(BASE_TREE),$(VM_BENCH_BASE_BUILD),,$(VM_BENCH_FRAGMENT))

bench: vm-bench-kernel vm-bench-stock-kernel \
	$(if $(BENCH_BASE),vm-bench-base-kernel) \
	$(if $(filter 1,$(BENCH_FLOOR)),floor-module)
	@$(if $(filter 1,$(BENCH_FLOOR)),FLOOR_KERNEL=$(VM_PROFILE_BUILD) \
		FLOOR_LIST=$(FLOOR_BUILD)/initramfs.list) \
	$(if $(BENCH_BASE),BENCH_BASE_TREE=$(BASE_TREE) \
		BENCH_BASE_BUILD=$(VM_BENCH_BASE_BUILD) \
		BENCH_BASE_NAME=$$(cat $(BASE_SRC)/.udmabuf-commit)) \
		tools/vm/bench.sh $(TREE) $(VM_BENCH_BUILD) $(STOCK_TREE) \
		$(VM_BENCH_STOCK_BUILD) $(BUILD)/bench

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
	$(call fresh,coverage coverage-floor)
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
	$(call fresh,sanitize-reports)
	$(call kunit_run,sanitize,$(BUILD)/sanitize,\
		--kunitconfig=$(REPO)/.kunitconfig \
		--kunitconfig=$(REPO)/lib/kunit-configs/sanitize-uml.config)
	@tools/sanitize-check.sh $(BUILD)/sanitize/test.log \
		$(RESULTS)/sanitize-reports.json; \
		echo $$? >$(RESULTS)/sanitize-reports.exit

# Lint: each check is one case in the total.
lint: tree
	$(call fresh,lint)
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
	$(call fresh,patches)
	@UML_JSON=$(RESULTS)/uml.json tools/patches/check-series.sh \
		$(PATCHES_GIT) $(PATCHES) $(RESULTS)/patches.json $(1); \
		echo $$? >$(RESULTS)/patches.exit
endef

check-patches: patches
	$(call check_patches,--full $(JOBS))
	@$(TOTAL) patches

check-patches-quick: patches
	$(call check_patches)

# Mutation testing (tools/mutants.py): mutants of drivers/dma-buf/ made by
# rule, each built into a tree and build folders of their own (never
# $(TREE)), killed by the first stage that fails: UML KUnit, then x86_64
# KUnit, then (MUTANTS_VM=1) the selftests in the VM. Prints the score;
# survivors and summary.txt go to $(RESULTS)/mutants/; equivalent mutants
# are listed in tools/mutants-equivalent.txt. MUTANTS_ARGS passes options:
# --list, --only 'ID-GLOB', --spread N, --limit N, --stages uml.
MUTANTS_BUILD := $(BUILD)/mutants
mutants: deps
	@tools/mutants.py --tree=$(MUTANTS_BUILD)/linux \
		--version=$(KERNEL_PKG_VERSION) --uml-build=$(MUTANTS_BUILD)/uml \
		--x86-build=$(MUTANTS_BUILD)/x86 --vm-out=$(MUTANTS_BUILD)/vm \
		--logs=$(MUTANTS_BUILD)/logs --results=$(RESULTS)/mutants \
		--jobs=$(JOBS) $(if $(filter 1,$(MUTANTS_VM)),--vm) $(MUTANTS_ARGS)

# make test's stages, each NAME[:KIND]: its results are NAME.json and
# NAME.exit in $(RESULTS); KIND counts the cases it must run from the
# sources (kunit, or vm=PROGRAMS for a run-vm.sh boot: tools/stage_counts.py).
# make test deletes their results, makes test-stages with -k (a failed
# build fails the stages that need it, the others still run) and always
# ends with the total: a stage without new results, or short of cases,
# fails. A new stage: its word here, its rule in test-stages.
TEST_STAGES = uml:kunit lint $(if $(STOCK),vm-stock,vm):vm=$(SELFTESTS) \
	x86_64:kunit x86_64-reports x86_64-debug:kunit x86_64-debug-reports \
	sanitize:kunit sanitize-reports coverage:kunit coverage-floor patches \
	stress:vm=$(STRESS_PROGRAMS) migrate:vm=migrate $(CLIENT_LABEL):vm=client \
	swiotlb:vm=$(SWIOTLB_PROGRAMS) $(V4L2_LABEL):vm=v4l2
test-stages: kunit-uml lint selftest swiotlb kunit-x86 sanitize coverage \
	check-patches-quick stress-run kunit-x86-debug client-run v4l2-run

test:
	$(call fresh,$(foreach s,$(TEST_STAGES),$(firstword $(subst :, ,$(s)))))
	@since=$$(date +%s); $(MAKE) --no-print-directory -k test-stages; \
		$(TOTAL) --make-status=$$? --since=$$since $(TEST_STAGES)

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
		$(BUILD)/vm-bench $(BUILD)/vm-bench-stock $(BUILD)/vm-bench-base \
		$(BUILD)/linux-base $(BUILD)/base-src \
		$(BUILD)/coverage $(BUILD)/sanitize $(RESULTS)

distclean:
	rm -rf $(BUILD)
