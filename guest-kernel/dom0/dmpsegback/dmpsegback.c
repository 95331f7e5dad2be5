// SPDX-License-Identifier: GPL-2.0
/*
 * dmpsegback: dom0 helper that grants pages of a user-space buffer (dmpd's
 * segment memory) to a guest, read-only or writable.
 *
 * Why a module: libxengnttab's gntshr (xen-gntalloc) can only grant pages it
 * allocates itself, once, to one domain.  A shared segment needs the *same*
 * pages granted to several guests, with a read-only or writable grant per
 * guest, so dom0 has to create grant entries for pages it already owns.
 *
 * Safety rule: a page stays pinned for as long as any grant to it may still
 * be mapped.  REVOKE ends only grants that are no longer in use and keeps the
 * whole set (pages pinned) otherwise; closing the device hands still-mapped
 * grants to the kernel's deferred-end list, which holds a page reference until
 * the guest lets go.  Memory a guest can still reach is never freed.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>

#include "dmpsegback-abi.h"

struct dmpsegback_set {
	u32 id;
	unsigned int nr_pages, nr_dir;
	struct page **pages;		/* pinned user pages */
	grant_ref_t *refs;		/* 0 = not granted / ended */
	struct page **dir;
	grant_ref_t *dir_refs;
};

struct dmpsegback_ctx {
	struct mutex lock;
	struct idr sets;
};

static unsigned int dmpsegback_end(grant_ref_t *refs, unsigned int n)
{
	unsigned int i, busy = 0;

	for (i = 0; i < n; i++) {
		if (!refs[i])
			continue;
		if (gnttab_try_end_foreign_access(refs[i]))
			refs[i] = 0;
		else
			busy++;
	}
	return busy;
}

/* Release a set whose grants have all ended. */
static void dmpsegback_free(struct dmpsegback_set *s)
{
	unsigned int i;

	if (s->pages) {
		for (i = 0; i < s->nr_pages && s->pages[i]; i++)
			unpin_user_pages_dirty_lock(&s->pages[i], 1, true);
	}
	if (s->dir) {
		for (i = 0; i < s->nr_dir; i++)
			if (s->dir[i])
				__free_page(s->dir[i]);
	}
	kvfree(s->pages);
	kvfree(s->refs);
	kfree(s->dir);
	kfree(s->dir_refs);
	kfree(s);
}

/*
 * The owner went away: grants still mapped are ended later by the kernel,
 * which keeps its own page reference until then.
 */
static void dmpsegback_abandon(struct dmpsegback_set *s)
{
	unsigned int i, leaked = 0;

	for (i = 0; i < s->nr_pages; i++) {
		if (!s->refs[i] || gnttab_try_end_foreign_access(s->refs[i]))
			continue;
		gnttab_end_foreign_access(s->refs[i], NULL);
		leaked++;
	}
	for (i = 0; i < s->nr_dir; i++) {
		if (!s->dir_refs[i] || gnttab_try_end_foreign_access(s->dir_refs[i]))
			continue;
		/* Ownership of the page passes to the deferred-end list. */
		gnttab_end_foreign_access(s->dir_refs[i], s->dir[i]);
		s->dir[i] = NULL;
		leaked++;
	}
	if (leaked)
		pr_warn("dmpsegback: set %u: %u grants still mapped, ending them later\n",
			s->id, leaked);
	memset(s->refs, 0, s->nr_pages * sizeof(*s->refs));
	dmpsegback_free(s);
}

static long dmpsegback_grant(struct dmpsegback_ctx *ctx, void __user *arg)
{
	struct dmpsegback_grant g;
	struct dmpsegback_set *s;
	unsigned int i, done;
	int ret;

	if (copy_from_user(&g, arg, sizeof(g)))
		return -EFAULT;
	if (!g.nr_pages || g.nr_pages > DMPSEGBACK_MAX_PAGES ||
	    g.nr_dir != DIV_ROUND_UP(g.nr_pages, DMPSEGBACK_REFS_PER_PAGE) ||
	    !PAGE_ALIGNED(g.addr) || g.domid == DOMID_SELF || g.domid == 0)
		return -EINVAL;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->nr_pages = g.nr_pages;
	s->nr_dir = g.nr_dir;
	s->pages = kvcalloc(g.nr_pages, sizeof(*s->pages), GFP_KERNEL);
	s->refs = kvcalloc(g.nr_pages, sizeof(*s->refs), GFP_KERNEL);
	s->dir = kcalloc(g.nr_dir, sizeof(*s->dir), GFP_KERNEL);
	s->dir_refs = kcalloc(g.nr_dir, sizeof(*s->dir_refs), GFP_KERNEL);
	ret = -ENOMEM;
	if (!s->pages || !s->refs || !s->dir || !s->dir_refs)
		goto fail;

	for (done = 0; done < g.nr_pages; done += ret) {
		ret = pin_user_pages_fast(g.addr + (u64)done * PAGE_SIZE,
					  g.nr_pages - done, FOLL_WRITE | FOLL_LONGTERM,
					  s->pages + done);
		if (ret <= 0) {
			ret = ret ? ret : -EFAULT;
			goto fail;
		}
	}
	for (i = 0; i < g.nr_dir; i++) {
		s->dir[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!s->dir[i]) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < g.nr_pages; i++) {
		grant_ref_t *d = page_address(s->dir[i / DMPSEGBACK_REFS_PER_PAGE]);

		ret = gnttab_grant_foreign_access(g.domid, xen_page_to_gfn(s->pages[i]),
						  g.readonly);
		if (ret < 0)
			goto fail;
		s->refs[i] = ret;
		d[i % DMPSEGBACK_REFS_PER_PAGE] = ret;
	}
	for (i = 0; i < g.nr_dir; i++) {
		ret = gnttab_grant_foreign_access(g.domid, xen_page_to_gfn(s->dir[i]), 1);
		if (ret < 0)
			goto fail;
		s->dir_refs[i] = ret;
	}
	ret = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(g.dir_refs), s->dir_refs,
			 g.nr_dir * sizeof(*s->dir_refs)))
		goto fail;
	mutex_lock(&ctx->lock);
	ret = idr_alloc(&ctx->sets, s, 1, 0, GFP_KERNEL);
	mutex_unlock(&ctx->lock);
	if (ret < 0)
		goto fail;
	s->id = ret;
	g.id = ret;
	if (copy_to_user(arg, &g, sizeof(g))) {
		/* The caller cannot name the set: undo it. */
		mutex_lock(&ctx->lock);
		idr_remove(&ctx->sets, s->id);
		mutex_unlock(&ctx->lock);
		ret = -EFAULT;
		goto fail;
	}
	return 0;

fail:
	/* Nothing was published yet, so no grant can be mapped: all end now. */
	if (s->refs && dmpsegback_end(s->refs, s->nr_pages))
		pr_err("dmpsegback: unpublished grant in use\n");
	if (s->dir_refs && dmpsegback_end(s->dir_refs, s->nr_dir))
		pr_err("dmpsegback: unpublished directory grant in use\n");
	dmpsegback_free(s);
	return ret;
}

static long dmpsegback_revoke(struct dmpsegback_ctx *ctx, void __user *arg)
{
	struct dmpsegback_revoke r;
	struct dmpsegback_set *s;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	mutex_lock(&ctx->lock);
	s = idr_find(&ctx->sets, r.id);
	if (!s) {
		mutex_unlock(&ctx->lock);
		return -ENOENT;
	}
	r.busy = dmpsegback_end(s->refs, s->nr_pages) +
		 dmpsegback_end(s->dir_refs, s->nr_dir);
	if (!r.busy) {
		idr_remove(&ctx->sets, r.id);
		dmpsegback_free(s);
	}
	mutex_unlock(&ctx->lock);
	return copy_to_user(arg, &r, sizeof(r)) ? -EFAULT : 0;
}

static long dmpsegback_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct dmpsegback_ctx *ctx = file->private_data;

	switch (cmd) {
	case DMPSEGBACK_IOC_GRANT:
		return dmpsegback_grant(ctx, (void __user *)arg);
	case DMPSEGBACK_IOC_REVOKE:
		return dmpsegback_revoke(ctx, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int dmpsegback_open(struct inode *inode, struct file *file)
{
	struct dmpsegback_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	mutex_init(&ctx->lock);
	idr_init(&ctx->sets);
	file->private_data = ctx;
	return 0;
}

static int dmpsegback_release(struct inode *inode, struct file *file)
{
	struct dmpsegback_ctx *ctx = file->private_data;
	struct dmpsegback_set *s;
	int id;

	idr_for_each_entry(&ctx->sets, s, id)
		dmpsegback_abandon(s);
	idr_destroy(&ctx->sets);
	kfree(ctx);
	return 0;
}

static const struct file_operations dmpsegback_fops = {
	.owner = THIS_MODULE,
	.open = dmpsegback_open,
	.release = dmpsegback_release,
	.unlocked_ioctl = dmpsegback_ioctl,
};

static struct miscdevice dmpsegback_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "dmpsegback",
	.fops = &dmpsegback_fops,
	.mode = 0600,
};

static int __init dmpsegback_init(void)
{
	if (!xen_initial_domain())
		return -ENODEV;
	return misc_register(&dmpsegback_misc);
}

static void __exit dmpsegback_exit(void)
{
	misc_deregister(&dmpsegback_misc);
}

module_init(dmpsegback_init);
module_exit(dmpsegback_exit);

MODULE_DESCRIPTION("dom0 helper granting dmpd segment pages to guests");
MODULE_LICENSE("GPL");
