# SPDX-License-Identifier: GPL-2.0
#
# Checks of the sources themselves: lint (tools/build/lint.sh), the patch
# series for 6.12 (tools/patches/) and mutation testing (tools/mutants/).

.PHONY: lint patches check-patches-quick check-patches-full mutants

# Lint: checkpatch --strict, W=1 and sparse; each check is one case in the
# total.
STAGES_lint := lint
CLEAN += $(BUILD)/lint
lint: tree
	$(fresh)
	@tools/build/lint.sh $(TREE) $(BUILD)/lint $(JOBS) $(RESULTS)/lint.json; \
		$(call save_exit,lint)

# The patch series: generated from tools/patches/ and our files into a
# throw-away git repository of the pristine tree.
PATCHES_GIT := $(BUILD)/patches-git
PATCHES := $(BUILD)/patches
CLEAN += $(PATCHES_GIT) $(PATCHES)
patches: deps
	@tools/patches/make-series.sh $(PATCHES_GIT) $(PATCHES) \
		$(KERNEL_PKG_VERSION)

# The series checked: git am, checkpatch, byte-identity, and (make
# check-patches, not make test's check-patches-quick) every prefix built.
STAGES_check-patches-quick := patches
STAGES_check-patches-full := patches
check-patches-quick check-patches-full: patches
	$(fresh)
	@UML_JSON=$(RESULTS)/uml.json tools/patches/check-series.sh \
		$(PATCHES_GIT) $(PATCHES) $(RESULTS)/patches.json \
		$(if $(filter %-full,$@),--full $(JOBS)); \
		$(call save_exit,patches)

# Mutation testing (tools/mutants/mutants.py): mutants of drivers/dma-buf/
# made by rule, each built into a tree and build folders of their own
# (never $(TREE)), killed by the first stage that fails: UML KUnit, then
# x86_64 KUnit, then the dma-buf suite there under swiotlb=force, then
# UML KUnit under KASAN, then (MUTANTS_VM=1) the
# selftests in the VM. Prints the
# score; survivors and summary.txt go to $(RESULTS)/mutants/; equivalent
# mutants are listed in tools/mutants/equivalent.txt. MUTANTS_ARGS passes
# options: --list, --only 'ID-GLOB', --spread N, --limit N, --stages uml.
MUTANTS_BUILD := $(BUILD)/mutants
CLEAN += $(MUTANTS_BUILD)
mutants: deps
	@tools/mutants/mutants.py --tree=$(MUTANTS_BUILD)/linux \
		--version=$(KERNEL_PKG_VERSION) --uml-build=$(MUTANTS_BUILD)/uml \
		--x86-build=$(MUTANTS_BUILD)/x86 --vm-out=$(MUTANTS_BUILD)/vm \
		--logs=$(MUTANTS_BUILD)/logs --results=$(RESULTS)/mutants \
		--jobs=$(JOBS) $(if $(filter 1,$(MUTANTS_VM)),--vm) $(MUTANTS_ARGS)
