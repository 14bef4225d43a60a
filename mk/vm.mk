# SPDX-License-Identifier: GPL-2.0
#
# The VM (tools/vm/run-vm.sh): our x86_64 kernel and the stock one, and the
# runs that boot them: make run, selftest [STOCK=1], swiotlb, distro.

.PHONY: vm-kernel vm-stock-kernel run selftest-run swiotlb distro

# The x86_64 kernel: tinyconfig plus our fragment; built once, reused by the
# VM runs and by kunit.py (make kunit-x86). Fragments of other kernels
# (debug, bench, profile, the client's guest) are laid over it; all are in
# tools/vm/configs/.
VM_CONFIGS := $(REPO)/tools/vm/configs
VM_FRAGMENT := $(VM_CONFIGS)/x86_64-vm.config
VM_BUILD := $(BUILD)/vm
VM_STOCK_BUILD := $(BUILD)/vm-stock
CLEAN += $(VM_BUILD) $(VM_STOCK_BUILD)
define vm_kernel
	@tools/vm/config.sh $(1) $(2) $(or $(4),$(VM_FRAGMENT)) $(3)
	@echo "== building x86_64 kernel in $(2) =="
	@$(MAKE) -s -C $(1) O=$(2) ARCH=x86_64 -j$(JOBS) bzImage
endef

# $(1): a fragment of tools/vm/configs/ laid over the VM's; written to
# $(2) only when it changes, so that config.sh keeps the build's .config.
define vm_fragment
	@mkdir -p $(BUILD)
	@cat $(VM_FRAGMENT) $(VM_CONFIGS)/$(1) >$(2).new
	@cmp -s $(2).new $(2) || mv $(2).new $(2)
	@rm -f $(2).new
endef

vm-kernel: tree
	$(call vm_kernel,$(TREE),$(VM_BUILD))

vm-stock-kernel: stock-tree
	$(call vm_kernel,$(STOCK_TREE),$(VM_STOCK_BUILD),--stock)

# STOCK=1: make selftest, client and v4l2 boot the stock kernel (the
# untouched 6.12 driver) instead of ours; their stages are then named
# NAME-stock (vm-stock, client-stock, v4l2-stock).
STOCK_SUFFIX := $(if $(STOCK),-stock)
BOOT_KERNEL := vm$(STOCK_SUFFIX)-kernel
BOOT_TREE := $(if $(STOCK),$(STOCK_TREE),$(TREE))
BOOT_BUILD := $(if $(STOCK),$(VM_STOCK_BUILD),$(VM_BUILD))

# The selftests: the tree's udmabuf selftest and ours. Ours boots with one
# 1 GiB page, and a CPU that maps it, for the mapping matrix; the stock
# kernel boots without them.
SELFTESTS := udmabuf,udmabuf-uapi,udmabuf-mapping
GIGANTIC_CMDLINE := hugepagesz=1G hugepages=1
GIGANTIC_QEMU := -cpu qemu64,+pdpe1gb
SELFTEST_LABEL := vm$(STOCK_SUFFIX)
SELFTEST_QEMU := $(if $(STOCK),,$(GIGANTIC_QEMU))
SELFTEST_CMDLINE := $(if $(STOCK),,$(GIGANTIC_CMDLINE))
STAGES_selftest-run := $(SELFTEST_LABEL):vm=$(SELFTESTS)
selftest-run: $(BOOT_KERNEL)
	$(fresh)
	@VM_QEMU_ARGS="$(SELFTEST_QEMU)" tools/vm/run-vm.sh $(BOOT_TREE) \
		$(BOOT_BUILD) $(RESULTS) $(SELFTEST_LABEL) $(SELFTESTS) \
		"$(SELFTEST_CMDLINE)"; $(call save_exit,$(SELFTEST_LABEL))

# The CPU bracket under swiotlb=force (as in confidential guests): writers
# racing write-only brackets lose nothing, importers and brackets keep the
# DMA-API debugger silent.
SWIOTLB_PROGRAMS := udmabuf-uapi:-t:sync_write_brackets_race:-t:dma_buf_sync:-t:first_sync_from_eight_threads:-t:write_only_sync_then_close:-t:vgem_imports_a_shmem_buffer
STAGES_swiotlb := swiotlb:vm=$(SWIOTLB_PROGRAMS)
swiotlb: vm-kernel
	$(fresh)
	@tools/vm/run-vm.sh $(TREE) $(VM_BUILD) $(RESULTS) swiotlb \
		$(SWIOTLB_PROGRAMS) swiotlb=force; $(call save_exit,swiotlb)

# Our driver on Debian's own 6.12 configuration (the config of this
# release's linux-image-6.12.*-amd64-unsigned, every module off), built
# niced in a folder of its own and booted: selftests, udmabuf-mapping, a
# short stress, and make client's path when its guest kernel is built.
CLEAN += $(BUILD)/distro $(BUILD)/distro-run
distro: tree
	@JOBS=$(JOBS) tools/distro/distro.sh $(TREE) $(BUILD)/distro \
		$(BUILD)/distro-run $(KERNEL_PKG_VERSION) $(CLIENT_GUEST_BUILD)

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
