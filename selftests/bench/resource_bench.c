// SPDX-License-Identifier: GPL-2.0
/*
 * How long do page_is_ram() and region_intersects() take on a given
 * resource tree?  An out-of-tree module for selftests/bench, built against
 * the base kernel with and without the series: it uses only interfaces
 * that both have, so the same code measures both.
 *
 * tree=vm      the VM's own /proc/iomem
 * tree=flat    plus a synthetic tree of @windows non-busy windows at the
 *              top level, each with @per_window busy children (100 x 99 by
 *              default: 10,000 resources), no nested System RAM
 * tree=nested  the same, with the first child of every window System RAM
 *              (requested below the window, as memory hotplug nests RAM
 *              below a driver's claim)
 *
 * Each function is called @calls times at each of @points addresses,
 * half spread over the VM's own memory map ([0, 4 GiB + 1 GiB)), half
 * over the synthetic tree (or, for tree=vm, its would-be place).  The
 * sweep runs @rounds times; the fastest round is reported as ns per call.
 * Loading the module prints the results and tears the tree down again;
 * the module does nothing else and can be removed at once.
 */
#include <linux/module.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/io.h>

static char *tree = "vm";
module_param(tree, charp, 0444);
static unsigned int windows = 100;
module_param(windows, uint, 0444);
static unsigned int per_window = 99;
module_param(per_window, uint, 0444);
static unsigned int calls = 200;
module_param(calls, uint, 0444);
static unsigned int points = 64;
module_param(points, uint, 0444);
static unsigned int rounds = 3;
module_param(rounds, uint, 0444);

#define CHILD_SIZE	SZ_1M
#define LOW_SPAN	(SZ_4G + SZ_1G)

static struct resource root = {
	.name = "bench root",
	.flags = IORESOURCE_MEM,
};

static struct resource *win;		/* [windows] */
static struct resource **kids;		/* [windows * per_window] */
static unsigned int nr_win, nr_kids;

static u64 window_size(void)
{
	return (u64)(per_window + 1) * CHILD_SIZE;
}

static void build_teardown(void)
{
	while (nr_kids) {
		struct resource *c = kids[--nr_kids];

		release_mem_region(c->start, resource_size(c));
	}
	while (nr_win)
		release_resource(&win[--nr_win]);
	kfree(kids);
	kfree(win);
}

/* The synthetic tree: @windows windows at the top level, inside @root's range. */
static int build(bool nested)
{
	u64 wsize = window_size();
	unsigned int w, k;

	win = kcalloc(windows, sizeof(*win), GFP_KERNEL);
	kids = kcalloc((size_t)windows * per_window, sizeof(*kids), GFP_KERNEL);
	if (!win || !kids)
		return -ENOMEM;
	for (w = 0; w < windows; w++) {
		struct resource *r = &win[w];

		r->name = "bench window";
		r->flags = IORESOURCE_MEM;
		r->start = root.start + w * wsize;
		r->end = r->start + wsize - 1;
		if (request_resource(&iomem_resource, r))
			return -EBUSY;
		nr_win++;
		for (k = 0; k < per_window; k++) {
			u64 s = r->start + (u64)k * CHILD_SIZE;
			struct resource *c;

			if (nested && k == 0)
				c = __request_region(r, s, CHILD_SIZE,
						     "System RAM",
						     IORESOURCE_SYSTEM_RAM);
			else
				c = __request_region(r, s, CHILD_SIZE,
						     "bench device", 0);
			if (!c)
				return -EBUSY;
			kids[nr_kids++] = c;
		}
	}
	return 0;
}

static u64 point(unsigned int i)
{
	unsigned int half = points / 2;
	u64 a;

	if (i < half)
		a = div_u64((u64)LOW_SPAN * i, half);
	else
		a = root.start + div_u64((resource_size(&root) - 1) *
					 (i - half), points - half);
	return a & PAGE_MASK;
}

enum fn { FN_PAGE_IS_RAM, FN_REGION_INTERSECTS, NR_FN };
static const char * const fn_name[] = {
	[FN_PAGE_IS_RAM] = "page_is_ram",
	[FN_REGION_INTERSECTS] = "region_intersects",
};

static u64 sweep(enum fn f, unsigned long *sum)
{
	unsigned int i, n;
	u64 t0 = ktime_get_ns();

	for (i = 0; i < points; i++) {
		u64 a = point(i);

		for (n = 0; n < calls; n++) {
			if (f == FN_PAGE_IS_RAM)
				*sum += page_is_ram(PHYS_PFN(a));
			else
				*sum += region_intersects(a, PAGE_SIZE,
							  IORESOURCE_SYSTEM_RAM,
							  IORES_DESC_NONE);
			cond_resched();
		}
	}
	return ktime_get_ns() - t0;
}

static int __init bench_init(void)
{
	bool synthetic = strcmp(tree, "vm") != 0;
	bool nested = strcmp(tree, "nested") == 0;
	u64 size, best, total;
	unsigned long sum;
	enum fn f;
	int rc, r;

	if (synthetic && !nested && strcmp(tree, "flat")) {
		pr_err("resource_bench: tree=%s: want vm, flat or nested\n", tree);
		return -EINVAL;
	}
	if (!windows || !per_window || !calls || points < 2 || !rounds)
		return -EINVAL;
	size = (u64)windows * window_size();
	/* the top half of iomem is free in the VM */
	rc = allocate_resource(&iomem_resource, &root, size,
			       (iomem_resource.end >> 1) + 1, iomem_resource.end,
			       SZ_1G, NULL, NULL);
	if (rc) {
		pr_err("resource_bench: no free %#llx bytes in iomem: %d\n",
		       size, rc);
		return rc;
	}
	if (synthetic) {
		/* the windows take root's place at the top level */
		release_resource(&root);
		rc = build(nested);
		if (rc) {
			pr_err("resource_bench: building the tree failed: %d\n", rc);
			goto out;
		}
	}

	for (f = 0; f < NR_FN; f++) {
		best = U64_MAX;
		sum = 0;
		for (r = 0; r < rounds; r++)
			best = min(best, sweep(f, &sum));
		total = (u64)points * calls;
		pr_info("resource_bench: tree=%s resources=%u fn=%s calls=%llu ns_per_call=%llu results=%lu\n",
			tree, nr_win + nr_kids, fn_name[f], total,
			div64_u64(best, total), sum / rounds);
	}
	rc = 0;
out:
	if (synthetic)
		build_teardown();
	else
		release_resource(&root);
	return rc;
}

static void __exit bench_exit(void)
{
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("resource tree walk benchmark (selftests/bench)");
MODULE_LICENSE("GPL");
