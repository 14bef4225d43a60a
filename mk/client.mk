# SPDX-License-Identifier: GPL-2.0
#
# The real clients (tools/client/): QEMU's virtio-gpu blob resources (make
# client) and V4L2's vivid (make v4l2), each on our kernel or, with
# STOCK=1, on the stock one (mk/vm.mk).

.PHONY: client-guest-kernel client-run v4l2-run

# make client: Debian's qemu-system-x86_64 inside our VM hosts an inner
# guest (a kernel of its own: tinyconfig, virtio-gpu, fbdev) whose
# framebuffer is a blob resource, so QEMU makes it a udmabuf and reads the
# pixels through its mapping. The screendump is kept as PNG.
CLIENT_GUEST_BUILD := $(BUILD)/client-guest
CLEAN += $(CLIENT_GUEST_BUILD)
client-guest-kernel: tree
	$(call vm_kernel,$(TREE),$(CLIENT_GUEST_BUILD),,$(VM_CONFIGS)/x86_64-client-guest.config)

CLIENT_LABEL := client$(STOCK_SUFFIX)
STAGES_client-run := $(CLIENT_LABEL):vm=client
client-run: $(BOOT_KERNEL) client-guest-kernel
	$(fresh)
	@tools/client/client.sh $(BOOT_TREE) $(BOOT_BUILD) \
		$(CLIENT_GUEST_BUILD) $(RESULTS) $(CLIENT_LABEL); \
		$(call save_exit,$(CLIENT_LABEL))

# make v4l2: udmabufs queued to vivid, V4L2's virtual capture and output
# device, one instance per vb2 allocator (vmalloc, dma-contig): capture
# into them, output from them looped back to the capture, CPU brackets,
# no pin left (tools/client/v4l2.c). 2 GiB keeps every page below 4 GiB,
# inside dma-contig's 32-bit DMA mask.
V4L2_CMDLINE := vivid.n_devs=2 vivid.allocators=0,1 vivid.node_types=0x101,0x101
V4L2_LABEL := v4l2$(STOCK_SUFFIX)
STAGES_v4l2-run := $(V4L2_LABEL):vm=v4l2
v4l2-run: $(BOOT_KERNEL)
	$(fresh)
	@VM_MEM=2G VM_HUGEPAGES=32 tools/vm/run-vm.sh $(BOOT_TREE) \
		$(BOOT_BUILD) $(RESULTS) $(V4L2_LABEL) v4l2 "$(V4L2_CMDLINE)"; \
		$(call save_exit,$(V4L2_LABEL))
