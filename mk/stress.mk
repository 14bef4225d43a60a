# SPDX-License-Identifier: GPL-2.0
#
# make stress: a debug x86_64 kernel (tools/vm/configs/x86_64-debug.config)
# runs the random stress, page migration and vgem importing
# (tools/stress/); any kernel report fails. make kunit-x86-debug runs the
# KUnit suites on the same kernel.

.PHONY: vm-debug-kernel stress-run

# The debug kernel: the VM fragment plus every checker, in a build folder
# of its own.
VM_DEBUG_BUILD := $(BUILD)/vm-debug
DEBUG_GIGANTIC := $(GIGANTIC_CMDLINE) hugetlb_free_vmemmap=off
VM_DEBUG_FRAGMENT := $(BUILD)/x86_64-vm-debug.config
CLEAN += $(VM_DEBUG_BUILD) $(VM_DEBUG_FRAGMENT)
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
STAGES_stress-run := stress:vm=$(STRESS_PROGRAMS) migrate:vm=migrate
stress-run: vm-debug-kernel
	$(fresh)
	@VM_MEM=5G VM_HUGEPAGES=256 VM_QEMU_ARGS="$(GIGANTIC_QEMU)" \
		tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) $(RESULTS) stress \
		$(STRESS_PROGRAMS) "preempt=full cma=0 $(DEBUG_GIGANTIC)"; \
		$(call save_exit,stress)
	@VM_MEM=2G VM_HUGEPAGES=0 tools/vm/run-vm.sh $(TREE) $(VM_DEBUG_BUILD) \
		$(RESULTS) migrate migrate "preempt=full movablecore=1G cma=128M"; \
		$(call save_exit,migrate)
	@grep -hE '^(stress|migrate): ' $(RESULTS)/stress-console.log \
		$(RESULTS)/migrate-console.log | grep -vE 'MemFree|at [0-9]+ s:' || true
