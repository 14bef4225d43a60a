/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the udmabuf KUnit suites: folios and slices for the suites of
 * the pure helpers, making the test's own allocations fail from the Nth
 * on, and reading what the driver holds allocated.
 */
#ifndef _UDMABUF_KUNIT_HELPERS_H
#define _UDMABUF_KUNIT_HELPERS_H

#include <linux/types.h>

struct folio;
struct kunit;
struct udmabuf_slices;

/**
 * struct udmabuf_allocs - live allocations made at the driver's call sites
 * @calls: allocations not freed yet
 * @bytes: their bytes
 */
struct udmabuf_allocs {
	u64 calls;
	u64 bytes;
};

struct folio *udmabuf_test_folio(struct kunit *test, unsigned int order);
struct folio *udmabuf_test_folio_apart(struct kunit *test, unsigned int order,
				       struct folio *other);
struct udmabuf_slices *udmabuf_test_slices(struct kunit *test, u32 capacity);
u32 udmabuf_test_append(struct udmabuf_slices *slices, struct folio **folios,
			u32 nr, u32 first_page, u32 pages);
void udmabuf_test_pin_like_gup(struct folio *folio);
int udmabuf_test_folio_pins(struct folio *folio);

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

#endif /* _UDMABUF_KUNIT_HELPERS_H */
