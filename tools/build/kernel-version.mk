# The one place the kernel tree is pinned: Debian's linux-source-6.12.
KERNEL_PKG := linux-source-6.12
KERNEL_PKG_VERSION := 6.12.117-1~deb12u1
