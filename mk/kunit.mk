# SPDX-License-Identifier: GPL-2.0
#
# KUnit: the suites under UML (make kunit), on x86_64 under QEMU (make
# kunit-x86; kunit-x86-swiotlb, the dma-buf suite under swiotlb=force;
# kunit-x86-debug on make stress's debug kernel), with
# sanitizers (make sanitize) and with clang coverage (make coverage).

.PHONY: kunit-uml kunit-x86 kunit-x86-swiotlb kunit-x86-debug sanitize \
	coverage

KUNIT := ./tools/testing/kunit/kunit.py
KUNIT_TIMEOUT ?= 900

# One kunit.py run (name, build folder, options[, environment]); its JSON
# and exit code feed the total. modpost's warnings about clang's coverage
# sections, 500 MB of them, are counted instead of printed.
define kunit_run
	@echo "== kunit $(1) =="
	@cd $(TREE) && set -o pipefail && $(4) $(KUNIT) run --jobs=$(JOBS) \
		--timeout=$(KUNIT_TIMEOUT) \
		--build_dir=$(2) --json=$(RESULTS)/$(1).json \
		$(3) 2>&1 | awk -f $(REPO)/tools/build/quiet-modpost.awk | \
		tee $(RESULTS)/$(1).log; \
		$(call save_exit,$(1))
endef

STAGES_kunit-uml := uml:kunit
CLEAN += $(BUILD)/uml
kunit-uml: tree
	$(fresh)
	$(call kunit_run,uml,$(BUILD)/uml,--kunitconfig=$(REPO)/.kunitconfig)

# kunit.py on x86_64 with the VM kernel's build folder (which keeps a
# .config that covers its kunitconfig when last_used_kunitconfig says
# nothing changed); KVM if the VM's probe found it usable, else
# multi-threaded TCG. 4 CPUs; 2 MiB and one 1 GiB hugetlb pages, and a CPU
# with 1 GiB leaves, for the huge-mapping cases. Any kernel report in the
# kernel's log (kunit.py's test.log, kept as $(RESULTS)/NAME-kernel.log)
# fails the case NAME-reports.
KUNIT_X86_QEMU = -smp 4 $$(grep -qx KVM $(RESULTS)/accel 2>/dev/null && \
	echo -accel kvm -cpu host || \
	echo -accel tcg,thread=multi -cpu qemu64,+pdpe1gb)
define kunit_reports
	@cp $(2)/test.log $(RESULTS)/$(1)-kernel.log 2>/dev/null || \
		rm -f $(RESULTS)/$(1)-kernel.log
	@tools/vm/kernel_reports.py $(RESULTS)/$(1)-kernel.log \
		$(RESULTS)/$(1)-reports.json $(1)-reports; \
		$(call save_exit,$(1)-reports)
endef

# kunit.py's last kunitconfig in an x86_64 build folder, as the kernel's
# .config covers it: kunit.py keeps the .config; the old log goes.
define kunit_x86_prepare
	@( printf 'CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n'; \
	   cat $(REPO)/.kunitconfig ) >$(1)/last_used_kunitconfig
	@rm -f $(1)/test.log
endef

STAGES_kunit-x86 := x86_64:kunit x86_64-reports
kunit-x86: vm-kernel
	$(fresh)
	$(call kunit_x86_prepare,$(VM_BUILD))
	$(call kunit_run,x86_64,$(VM_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="hugepages=16 hugepagesz=1G hugepages=1" \
		--qemu_args="-m 2560 $(KUNIT_X86_QEMU)")
	$(call kunit_reports,x86_64,$(VM_BUILD))

# The dma-buf suite on the same kernel with every DMA mapping bounced
# (swiotlb=force, as in confidential guests): an importer's device works
# on bounce copies, and it and the CPU must still see each other's writes.
STAGES_kunit-x86-swiotlb := x86_64-swiotlb:kunit=udmabuf-dmabuf \
	x86_64-swiotlb-reports
kunit-x86-swiotlb: vm-kernel
	$(fresh)
	$(call kunit_x86_prepare,$(VM_BUILD))
	$(call kunit_run,x86_64-swiotlb,$(VM_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="swiotlb=force hugepages=16" \
		--qemu_args="-m 2560 $(KUNIT_X86_QEMU)" udmabuf-dmabuf)
	$(call kunit_reports,x86_64-swiotlb,$(VM_BUILD))

# The same suites on make stress's debug kernel (KASAN, lockdep, DEBUG_VM,
# kmemleak...), with full preemption as make stress boots it, its 1 GiB
# page as make stress reserves it, and room for KASAN's shadow (an eighth
# of the memory). The hung-task detector (30 s in the debug kernel) waits
# longer: the runner waits on a case for a minute under TCG and KASAN.
STAGES_kunit-x86-debug := x86_64-debug:kunit x86_64-debug-reports
kunit-x86-debug: vm-debug-kernel
	$(fresh)
	$(call kunit_x86_prepare,$(VM_DEBUG_BUILD))
	$(call kunit_run,x86_64-debug,$(VM_DEBUG_BUILD),--arch=x86_64 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kernel_args="preempt=full hugepages=16 $(DEBUG_GIGANTIC) \
			sysctl.kernel.hung_task_timeout_secs=600" \
		--qemu_args="-m 3072 $(KUNIT_X86_QEMU)")
	$(call kunit_reports,x86_64-debug,$(VM_DEBUG_BUILD))

# Sanitizers: the UML suites with KASAN, UBSAN, DEBUG_VM, lockdep,
# DEBUG_LIST and DEBUG_SG; any report in the kernel log fails.
STAGES_sanitize := sanitize:kunit sanitize-reports
CLEAN += $(BUILD)/sanitize
sanitize: tree
	$(fresh)
	$(call kunit_run,sanitize,$(BUILD)/sanitize,\
		--kunitconfig=$(REPO)/.kunitconfig \
		--kunitconfig=$(REPO)/lib/kunit-configs/sanitize-uml.config)
	@tools/results/sanitize-check.sh $(BUILD)/sanitize/test.log \
		$(RESULTS)/sanitize-reports.json; \
		$(call save_exit,sanitize-reports)

# Coverage: the UML suites in a clang build (see coverage-uml.config for
# why clang), lcov + HTML under coverage/, a floor (coverage/floor) that
# make test enforces.
COVERAGE_BUILD := $(BUILD)/coverage
STAGES_coverage := coverage:kunit coverage-floor
CLEAN += $(COVERAGE_BUILD)
coverage: tree
	$(fresh)
	@rm -f $(COVERAGE_BUILD)/default.profraw
	@mkdir -p $(COVERAGE_BUILD)
	$(call kunit_run,coverage,$(COVERAGE_BUILD),--make_options=LLVM=1 \
		--kunitconfig=$(REPO)/.kunitconfig \
		--kunitconfig=$(REPO)/lib/kunit-configs/coverage-uml.config,\
		LLVM_PROFILE_FILE=$(COVERAGE_BUILD)/default.profraw)
	@tools/results/coverage.sh $(TREE) $(COVERAGE_BUILD) \
		$(COVERAGE_BUILD)/default.profraw $(REPO)/coverage \
		$(REPO)/coverage/floor $(RESULTS)/coverage-floor.json; \
		$(call save_exit,coverage-floor)
	@echo "coverage: open coverage/html/index.html"
