# SPDX-License-Identifier: GPL-2.0
#
# Measures only, not part of make test (tools/bench/): make bench, our
# driver against the stock one; make profile, where our driver's calls
# spend their time; and the pin floor, the kernel's own calls for the same
# work with no driver around them.

.PHONY: vm-bench-kernel vm-bench-stock-kernel vm-bench-base-kernel base-tree \
	bench vm-profile-kernel pin-floor-module profile

# Benchmark: our driver and the stock one, side by side; measures only.
# Its kernels are the VM's without KUnit, fault injection, allocation
# profiling and the DMA-API debugger, with Debian's hardening
# (tools/vm/configs/x86_64-bench.config), each in a build folder of its
# own. BENCH_BASE=COMMIT adds our driver as it was at that commit ("base":
# the repository's files of COMMIT laid over a tree of their own by that
# commit's prepare-tree.sh), for before/after figures. BENCH_FLOOR=1 adds
# the pin floor's boot (make profile's kernel, built for it only then).
VM_BENCH_FRAGMENT := $(BUILD)/x86_64-vm-bench.config
VM_BENCH_BUILD := $(BUILD)/vm-bench
VM_BENCH_STOCK_BUILD := $(BUILD)/vm-bench-stock
VM_BENCH_BASE_BUILD := $(BUILD)/vm-bench-base
BASE_TREE := $(BUILD)/linux-base
BASE_SRC := $(BUILD)/base-src
CLEAN += $(VM_BENCH_FRAGMENT) $(VM_BENCH_BUILD) $(VM_BENCH_STOCK_BUILD) \
	$(VM_BENCH_BASE_BUILD) $(BASE_TREE) $(BASE_SRC) $(BUILD)/bench \
	$(BUILD)/bench-stable
vm-bench-kernel: tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(TREE),$(VM_BENCH_BUILD),,$(VM_BENCH_FRAGMENT))

vm-bench-stock-kernel: stock-tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(STOCK_TREE),$(VM_BENCH_STOCK_BUILD),--stock,$(VM_BENCH_FRAGMENT))

# A new commit gets a fresh tree (files of the old one are not left over).
# Its prepare-tree.sh is tools/build/'s, or tools/' before the tools were
# sorted by job.
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
	@prepare=$(BASE_SRC)/tools/build/prepare-tree.sh; \
	[ -f $$prepare ] || prepare=$(BASE_SRC)/tools/prepare-tree.sh; \
	KDIR= $$prepare $(BASE_TREE) $(KERNEL_PKG_VERSION)

vm-bench-base-kernel: base-tree
	$(call vm_fragment,x86_64-bench.config,$(VM_BENCH_FRAGMENT))
	$(call vm_kernel,$(BASE_TREE),$(VM_BENCH_BASE_BUILD),,$(VM_BENCH_FRAGMENT))

bench: vm-bench-kernel vm-bench-stock-kernel \
	$(if $(BENCH_BASE),vm-bench-base-kernel) \
	$(if $(filter 1,$(BENCH_FLOOR)),pin-floor-module)
	@$(if $(filter 1,$(BENCH_FLOOR)),FLOOR_KERNEL=$(VM_PROFILE_BUILD) \
		FLOOR_LIST=$(PIN_FLOOR_BUILD)/initramfs.list) \
	$(if $(BENCH_BASE),BENCH_BASE_TREE=$(BASE_TREE) \
		BENCH_BASE_BUILD=$(VM_BENCH_BASE_BUILD) \
		BENCH_BASE_NAME=$$(cat $(BASE_SRC)/.udmabuf-commit)) \
		tools/bench/bench.sh $(TREE) $(VM_BENCH_BUILD) $(STOCK_TREE) \
		$(VM_BENCH_STOCK_BUILD) $(BUILD)/bench

# Profile: where create, the first mmap + touch and release spend their
# time, by ftrace's function profiler in a kernel of its own, counted in
# guest instructions (-icount). Measures only; not part of make test.
VM_PROFILE_BUILD := $(BUILD)/vm-profile
VM_PROFILE_FRAGMENT := $(BUILD)/x86_64-vm-profile.config
CLEAN += $(VM_PROFILE_BUILD) $(VM_PROFILE_FRAGMENT) $(BUILD)/profile
vm-profile-kernel: tree
	$(call vm_fragment,x86_64-profile.config,$(VM_PROFILE_FRAGMENT))
	$(call vm_kernel,$(TREE),$(VM_PROFILE_BUILD),,$(VM_PROFILE_FRAGMENT))

# The pin floor (tools/bench/pin-floor/): an external module of the
# profile kernel only, built in a copy under $(BUILD)/pin-floor; make bench
# and make profile put it in the initramfs.
PIN_FLOOR_BUILD := $(BUILD)/pin-floor
CLEAN += $(PIN_FLOOR_BUILD)
pin-floor-module: vm-profile-kernel
	@mkdir -p $(PIN_FLOOR_BUILD)
	@cp -u tools/bench/pin-floor/Kbuild tools/bench/pin-floor/udmabuf_floor.c \
		$(PIN_FLOOR_BUILD)/
	@$(MAKE) -s -C $(TREE) O=$(VM_PROFILE_BUILD) ARCH=x86_64 \
		KBUILD_EXTRA_SYMBOLS=$(VM_PROFILE_BUILD)/vmlinux.symvers \
		M=$(PIN_FLOOR_BUILD) modules 2>&1 | grep -v 'Module.symvers\|^  ' || true
	@printf '%s\n' "dir /lib 0755 0 0" "file /lib/udmabuf_floor.ko \
		$(PIN_FLOOR_BUILD)/udmabuf_floor.ko 0644 0 0" >$(PIN_FLOOR_BUILD)/initramfs.list

profile: pin-floor-module
	@mkdir -p $(BUILD)/profile
	@VM_ICOUNT=1 VM_HUGEPAGES=16 VM_EXTRA_LIST=$(PIN_FLOOR_BUILD)/initramfs.list \
		tools/vm/run-vm.sh $(TREE) \
		$(VM_PROFILE_BUILD) $(BUILD)/profile profile profile \
		udmabuf.size_limit_mb=1024 >/dev/null; \
		grep -hE '^(PHASE|PROFILE|FLOOR)' $(BUILD)/profile/profile-console.log
