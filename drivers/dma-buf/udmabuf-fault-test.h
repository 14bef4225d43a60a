/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the udmabuf KUnit suites: making the test's own allocations
 * fail from the Nth on, and reading what the driver holds allocated.
 */
#ifndef _UDMABUF_FAULT_TEST_H
#define _UDMABUF_FAULT_TEST_H

#include <linux/types.h>

struct kunit;

/**
 * struct udmabuf_allocs - live allocations made at the driver's call sites
 * @calls: allocations not freed yet
 * @bytes: their bytes
 */
struct udmabuf_allocs {
	u64 calls;
	u64 bytes;
};

void udmabuf_test_faults_init(struct kunit *test);
void udmabuf_test_fail_from(unsigned int nth);
void udmabuf_test_fail_nth(unsigned int nth);
bool udmabuf_test_fail_stop(void);
long udmabuf_test_dma_errors(void);
long udmabuf_test_dma_mappings(void);
void udmabuf_test_release_files(void);
struct udmabuf_allocs udmabuf_test_allocs(void);
void udmabuf_test_expect_allocs(struct kunit *test,
				const struct udmabuf_allocs *before);

#endif /* _UDMABUF_FAULT_TEST_H */
