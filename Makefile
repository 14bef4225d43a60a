# SPDX-License-Identifier: GPL-2.0
#
# udmabuf, built into Debian's pinned 6.12 kernel tree and tested with KUnit.
#
#   make run     build the UML KUnit kernel and show the suites' full report
#   make test    everything CI runs; ends with "total: N passed, N failed"
#   make kunit   just the UML KUnit suites
#   make lint    checkpatch --strict, W=1 and sparse on our files
#
# KDIR=/path/to/linux-6.12.y uses your own tree instead (our files are laid
# over it). BUILD=dir moves all build output (default: build/).

include tools/kernel-version.mk

SHELL := /bin/bash
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

.PHONY: all run test kunit kunit-uml lint deps tree stock-tree clean distclean

all: run

deps:
	@tools/install-deps.sh $(KERNEL_PKG) $(KERNEL_PKG_VERSION)

tree: deps
	@tools/prepare-tree.sh $(TREE) $(KERNEL_PKG_VERSION)

stock-tree: deps
	@KDIR= tools/prepare-tree.sh $(STOCK_TREE) $(KERNEL_PKG_VERSION) --stock

# One UML KUnit run; its JSON and exit code feed the total.
define kunit_run
	@mkdir -p $(RESULTS)
	@rm -f $(RESULTS)/$(1).json
	@echo "== kunit $(1) =="
	@cd $(TREE) && set -o pipefail && $(KUNIT) run --jobs=$(JOBS) \
		--timeout=$(KUNIT_TIMEOUT) \
		--build_dir=$(BUILD)/$(1) --json=$(RESULTS)/$(1).json \
		$(2) 2>&1 | tee $(RESULTS)/$(1).log; \
		echo $$? >$(RESULTS)/$(1).exit
endef

kunit-uml: tree
	$(call kunit_run,uml,--kunitconfig=$(REPO)/.kunitconfig)

kunit: kunit-uml
	@tools/kunit-total.py uml=$(RESULTS)/uml.json:$$(cat $(RESULTS)/uml.exit)

# Lint: each check is one case in the total.
lint: tree
	@mkdir -p $(RESULTS)
	@tools/lint.sh $(TREE) $(BUILD)/lint $(JOBS) $(RESULTS)/lint.json; \
		echo $$? >$(RESULTS)/lint.exit

test: kunit-uml lint
	@tools/kunit-total.py \
		uml=$(RESULTS)/uml.json:$$(cat $(RESULTS)/uml.exit) \
		lint=$(RESULTS)/lint.json:$$(cat $(RESULTS)/lint.exit)

run: kunit-uml
	@echo
	@echo "Report: $(RESULTS)/uml.log"
	@tools/kunit-total.py uml=$(RESULTS)/uml.json:$$(cat $(RESULTS)/uml.exit)

clean:
	rm -rf $(BUILD)/uml $(BUILD)/lint $(RESULTS)

distclean:
	rm -rf $(BUILD)
