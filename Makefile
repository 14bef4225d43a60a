# SPDX-License-Identifier: GPL-2.0
#
# udmabuf, built into Debian's pinned 6.12 kernel tree and tested with KUnit.
#
#   make run       boot our x86_64 kernel under QEMU: demo, then selftests
#   make test      everything CI runs; ends with "total: N passed, N failed"
#   make kunit     the UML KUnit suites
#   make kunit-x86 the KUnit suites on x86_64 under QEMU (hugetlb, THP)
#   make kunit-x86-swiotlb  the dma-buf suite there under swiotlb=force
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
#
# The rules are in mk/, a file per job: kunit.mk (kunit, kunit-x86,
# sanitize, coverage), vm.mk (the VM kernels, run, selftest, swiotlb,
# distro), stress.mk, client.mk (client, v4l2), bench.mk (bench, profile)
# and source.mk (lint, patches, check-patches, mutants). Their scripts are
# in tools/, a folder per job. This file holds what they share: the trees,
# the stages' results and their totals, make test and clean.

include tools/build/kernel-version.mk

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

.PHONY: all deps tree stock-tree test test-stages clean distclean \
	kunit selftest stress client v4l2 check-patches

all: run

VM_PACKAGES := qemu-system-x86 gzip rsync gnuplot-nox clang lld llvm lcov \
	netpbm
deps:
	@tools/build/install-deps.sh $(KERNEL_PKG) $(KERNEL_PKG_VERSION) $(VM_PACKAGES)

tree: deps
	@tools/build/prepare-tree.sh $(TREE) $(KERNEL_PKG_VERSION)

stock-tree: deps
	@KDIR= tools/build/prepare-tree.sh $(STOCK_TREE) $(KERNEL_PKG_VERSION) --stock

# Stages. A stage writes NAME.json (kunit.py's JSON format) and NAME.exit
# (its exit code) in $(RESULTS); a rule that runs stages lists them once,
# as NAME[:KIND] words in STAGES_<rule> (KIND: how many cases the stage
# must run, counted from the sources by tools/results/stage_counts.py:
# kunit, or vm=PROGRAMS for a run-vm.sh boot). Its recipe begins with
# $(fresh), which deletes those stages' results of an earlier run (a
# stage that does not get to write new ones fails in the total), and
# ends each stage's command with $(call save_exit,NAME).
define fresh
	@mkdir -p $(RESULTS)
	@rm -f $(foreach n,$(call stage_names,$(STAGES_$@)),\
		$(RESULTS)/$(n).json $(RESULTS)/$(n).exit)
endef
stage_names = $(foreach s,$(1),$(firstword $(subst :, ,$(s))))
save_exit = echo $$? >$(RESULTS)/$(1).exit

# The total (tools/results/kunit-total.py): a line per stage, each failed
# case, then "total: N passed, N failed". make kunit, selftest, stress,
# client, v4l2 and check-patches run the stages of their rule, then print
# their total; make test prints the total of all of make test's stages.
TOTAL = tools/results/kunit-total.py --results=$(RESULTS) --tree=$(TREE)
kunit: kunit-uml
selftest: selftest-run
stress: stress-run
client: client-run
v4l2: v4l2-run
check-patches: check-patches-full
kunit selftest stress client v4l2 check-patches:
	@$(TOTAL) $(STAGES_$<)

include mk/vm.mk mk/kunit.mk mk/stress.mk mk/client.mk mk/bench.mk \
	mk/source.mk

# make test: deletes the results of its stages, makes test-stages with -k
# (a failed build fails the stages that need it, the others still run)
# and always ends with the total: a stage without new results, or short of
# cases, fails. A new stage: its rule in test-stages, its STAGES_ here
# (in the order the total lists them).
test-stages: kunit-uml lint selftest-run swiotlb kunit-x86 kunit-x86-swiotlb \
	sanitize coverage check-patches-quick stress-run kunit-x86-debug \
	client-run v4l2-run
STAGES_test = $(STAGES_kunit-uml) $(STAGES_lint) $(STAGES_selftest-run) \
	$(STAGES_kunit-x86) $(STAGES_kunit-x86-swiotlb) \
	$(STAGES_kunit-x86-debug) $(STAGES_sanitize) \
	$(STAGES_coverage) $(STAGES_check-patches-quick) $(STAGES_stress-run) \
	$(STAGES_client-run) $(STAGES_swiotlb) $(STAGES_v4l2-run)

test:
	$(fresh)
	@since=$$(date +%s); $(MAKE) --no-print-directory -k test-stages; \
		$(TOTAL) --make-status=$$? --since=$$since $(STAGES_test)

# Every build folder; the unpacked trees stay (make distclean: them too).
clean:
	rm -rf $(CLEAN) $(RESULTS)

distclean:
	rm -rf $(BUILD)
