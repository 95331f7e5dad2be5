// SPDX-License-Identifier: GPL-2.0
/*
 * dmpseg: xenbus frontend for named memory segments granted by dom0.
 *
 * dom0's dmpd publishes each attached segment as device/dmpseg/<n> in this
 * domain's xenstore area.  The backend node carries the segment's name, size,
 * read-only flag and the grant references of its "reference directory": pages
 * holding the grant references of the segment's data pages (1024 per page).
 * On InitWait we map every data page with gnttab_map_refs and expose the
 * segment twice:
 *   /dev/dmpseg/<name>   character device: read/write and mmap(MAP_SHARED)
 *   /dev/dmpsegblk<n>    blk-mq block device, memcpy to/from the pages
 *
 * Detach (backend Closing) must never leave user space or the block layer
 * with a path to pages whose grants are being unmapped: we first mark the
 * segment dead (faults then raise SIGBUS, I/O fails), zap every user mapping,
 * remove the disk, and only then unmap the grants - asynchronously, because
 * the grant layer waits until nobody holds an extra reference to a page.
 * The frontend reports Closed only when the grants are really gone, which is
 * what allows dom0 to end its grants and reuse the memory.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cdev.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <xen/grant_table.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#define DMPSEG_MAX_DEVS		64
#define DMPSEG_NAME_MAX		64
/* Same bound as dmpd: 1 GiB of 4 KiB pages. */
#define DMPSEG_MAX_PAGES	(1U << 18)
#define DMPSEG_REFS_PER_PAGE	(PAGE_SIZE / sizeof(grant_ref_t))

static bool hold_on_close;
module_param(hold_on_close, bool, 0644);
MODULE_PARM_DESC(hold_on_close,
		 "Fault injection for tests: ignore the backend's Closing request, as an unresponsive guest would");

struct dmpseg_file {
	struct list_head list;
	struct file *file;
};

struct dmpseg_dev {
	struct kref kref;
	struct xenbus_device *xbdev;
	char name[DMPSEG_NAME_MAX + 1];
	u64 size;
	unsigned int nr_pages;
	bool ro;
	int idx;

	/* live is true while the grants are mapped and may be touched. */
	struct rw_semaphore lock;
	bool live;

	struct page **pages;
	struct gnttab_map_grant_ref *map_ops;
	struct gnttab_unmap_grant_ref *unmap_ops;
	unsigned int nr_mapped;

	struct mutex files_lock;
	struct list_head files;

	struct device *chardev;
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	bool disk_added;

	struct gntab_unmap_queue_data unmap_data;
	struct completion unmapped;
	bool unmapping;
};

static struct class *dmpseg_class;

/*
 * Copy between the segment and a kernel buffer.  The granted pages sit in the
 * kernel's direct map (unpopulated-alloc memory is hot-added), so no vmap is
 * needed - and vmap refuses areas larger than the guest's RAM, which is
 * exactly what a segment that extends a small guest is.  Caller holds the
 * segment lock for reading with live set.
 */
static void dmpseg_copy(struct dmpseg_dev *dev, u64 pos, void *buf, size_t len,
			bool to_segment)
{
	while (len) {
		size_t off = offset_in_page(pos);
		size_t n = min_t(size_t, len, PAGE_SIZE - off);
		void *p = page_address(dev->pages[pos >> PAGE_SHIFT]) + off;

		if (to_segment)
			memcpy(p, buf, n);
		else
			memcpy(buf, p, n);
		pos += n;
		buf += n;
		len -= n;
	}
}
static dev_t dmpseg_devt;
static struct cdev dmpseg_cdev;
static int dmpseg_blk_major;
static DEFINE_MUTEX(dmpseg_idr_lock);
static DEFINE_IDR(dmpseg_idr);

static void dmpseg_free(struct kref *kref)
{
	struct dmpseg_dev *dev = container_of(kref, struct dmpseg_dev, kref);

	kvfree(dev->pages);
	kvfree(dev->map_ops);
	kvfree(dev->unmap_ops);
	kfree(dev);
}

/* ---- character device ---------------------------------------------------- */

static int dmpseg_open(struct inode *inode, struct file *file)
{
	struct dmpseg_file *f;
	struct dmpseg_dev *dev;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	mutex_lock(&dmpseg_idr_lock);
	dev = idr_find(&dmpseg_idr, iminor(inode));
	if (dev)
		kref_get(&dev->kref);
	mutex_unlock(&dmpseg_idr_lock);
	if (!dev) {
		kfree(f);
		return -ENODEV;
	}
	if (dev->ro && (file->f_mode & FMODE_WRITE)) {
		kref_put(&dev->kref, dmpseg_free);
		kfree(f);
		return -EACCES;
	}
	f->file = file;
	mutex_lock(&dev->files_lock);
	list_add(&f->list, &dev->files);
	mutex_unlock(&dev->files_lock);
	file->private_data = dev;
	return 0;
}

static int dmpseg_release(struct inode *inode, struct file *file)
{
	struct dmpseg_dev *dev = file->private_data;
	struct dmpseg_file *f, *tmp;

	mutex_lock(&dev->files_lock);
	list_for_each_entry_safe(f, tmp, &dev->files, list) {
		if (f->file == file) {
			list_del(&f->list);
			kfree(f);
			break;
		}
	}
	mutex_unlock(&dev->files_lock);
	kref_put(&dev->kref, dmpseg_free);
	return 0;
}

/*
 * Copy through a bounce page so the segment lock is never held while user
 * memory is touched: the user buffer may itself be a mapping of a segment,
 * whose fault handler takes the same lock.
 */
static ssize_t dmpseg_rw(struct file *file, char __user *ubuf, size_t count,
			 loff_t *ppos, bool write)
{
	struct dmpseg_dev *dev = file->private_data;
	size_t done = 0;
	void *bounce;
	ssize_t ret = 0;

	if (write && dev->ro)
		return -EPERM;
	if (*ppos < 0)
		return -EINVAL;
	if ((u64)*ppos >= dev->size)
		return write && count ? -ENOSPC : 0;
	count = min_t(u64, count, dev->size - *ppos);
	bounce = (void *)__get_free_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	while (done < count) {
		size_t chunk = min_t(size_t, count - done, PAGE_SIZE);
		loff_t pos = *ppos + done;

		if (write && copy_from_user(bounce, ubuf + done, chunk)) {
			ret = -EFAULT;
			break;
		}
		down_read(&dev->lock);
		if (!dev->live) {
			up_read(&dev->lock);
			ret = -ENODEV;
			break;
		}
		dmpseg_copy(dev, pos, bounce, chunk, write);
		up_read(&dev->lock);
		if (!write && copy_to_user(ubuf + done, bounce, chunk)) {
			ret = -EFAULT;
			break;
		}
		done += chunk;
		cond_resched();
	}
	free_page((unsigned long)bounce);
	if (done) {
		*ppos += done;
		return done;
	}
	return ret;
}

static ssize_t dmpseg_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	return dmpseg_rw(file, buf, count, ppos, false);
}

static ssize_t dmpseg_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	return dmpseg_rw(file, (char __user *)buf, count, ppos, true);
}

static loff_t dmpseg_llseek(struct file *file, loff_t off, int whence)
{
	struct dmpseg_dev *dev = file->private_data;

	return fixed_size_llseek(file, off, whence, dev->size);
}

/*
 * Pages are inserted one fault at a time under the segment lock, so a detach
 * (which clears live under the write lock and then zaps) cannot race with a
 * fault that would install a PTE after the zap.
 */
static vm_fault_t dmpseg_fault(struct vm_fault *vmf)
{
	struct dmpseg_dev *dev = vmf->vma->vm_file->private_data;
	vm_fault_t ret;

	down_read(&dev->lock);
	if (!dev->live || vmf->pgoff >= dev->nr_pages)
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_page(vmf->vma, vmf->address,
				      dev->pages[vmf->pgoff]);
	up_read(&dev->lock);
	return ret;
}

static const struct vm_operations_struct dmpseg_vm_ops = {
	.fault = dmpseg_fault,
};

static int dmpseg_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct dmpseg_dev *dev = file->private_data;
	unsigned long npages = vma_pages(vma);
	int ret = 0;

	/* A read-only fd's MAP_SHARED mapping has VM_MAYSHARE without VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (dev->ro && (vma->vm_flags & VM_WRITE))
		return -EPERM;
	if (vma->vm_pgoff >= dev->nr_pages ||
	    npages > dev->nr_pages - vma->vm_pgoff)
		return -EINVAL;
	down_read(&dev->lock);
	if (!dev->live) {
		ret = -ENODEV;
	} else {
		if (dev->ro)
			vma->vm_flags &= ~VM_MAYWRITE;
		vma->vm_flags |= VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP;
		vma->vm_ops = &dmpseg_vm_ops;
	}
	up_read(&dev->lock);
	return ret;
}

static const struct file_operations dmpseg_fops = {
	.owner = THIS_MODULE,
	.open = dmpseg_open,
	.release = dmpseg_release,
	.read = dmpseg_read,
	.write = dmpseg_write,
	.llseek = dmpseg_llseek,
	.mmap = dmpseg_mmap,
	/* Stores land in the granted pages directly: msync has nothing to write back. */
	.fsync = noop_fsync,
};

/* One read-only sysfs attribute per property of the segment, each printed as fmt. */
#define DMPSEG_ATTR(attr, fmt, value)						\
	static ssize_t attr##_show(struct device *d, struct device_attribute *a,	\
				   char *buf)					\
	{									\
		struct dmpseg_dev *dev = dev_get_drvdata(d);			\
										\
		return sysfs_emit(buf, fmt "\n", value);			\
	}									\
	static DEVICE_ATTR_RO(attr)

DMPSEG_ATTR(name, "%s", dev->name);
DMPSEG_ATTR(size, "%llu", dev->size);
DMPSEG_ATTR(ro, "%d", dev->ro);
DMPSEG_ATTR(disk, "dmpsegblk%d", dev->idx);

static struct attribute *dmpseg_attrs[] = {
	&dev_attr_name.attr,
	&dev_attr_size.attr,
	&dev_attr_ro.attr,
	&dev_attr_disk.attr,
	NULL,
};
ATTRIBUTE_GROUPS(dmpseg);

/* ---- block device -------------------------------------------------------- */

static blk_status_t dmpseg_queue_rq(struct blk_mq_hw_ctx *hctx,
				    const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct dmpseg_dev *dev = hctx->queue->queuedata;
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	blk_status_t st = BLK_STS_OK;
	struct req_iterator iter;
	struct bio_vec bv;
	bool write;

	blk_mq_start_request(rq);
	switch (req_op(rq)) {
	case REQ_OP_READ:
		write = false;
		break;
	case REQ_OP_WRITE:
		write = true;
		break;
	case REQ_OP_FLUSH:
		/* Stores to the pages are already visible to dom0. */
		goto end;
	default:
		st = BLK_STS_NOTSUPP;
		goto end;
	}
	if (write && dev->ro) {
		st = BLK_STS_IOERR;
		goto end;
	}
	down_read(&dev->lock);
	if (!dev->live) {
		st = BLK_STS_IOERR;
	} else {
		rq_for_each_segment(bv, rq, iter) {
			void *p;

			if (pos + bv.bv_len > dev->size) {
				st = BLK_STS_IOERR;
				break;
			}
			p = bvec_kmap_local(&bv);
			dmpseg_copy(dev, pos, p, bv.bv_len, write);
			kunmap_local(p);
			pos += bv.bv_len;
		}
	}
	up_read(&dev->lock);
end:
	blk_mq_end_request(rq, st);
	return BLK_STS_OK;
}

static const struct blk_mq_ops dmpseg_mq_ops = {
	.queue_rq = dmpseg_queue_rq,
};

static const struct block_device_operations dmpseg_blk_fops = {
	.owner = THIS_MODULE,
};

static int dmpseg_add_disk(struct dmpseg_dev *dev)
{
	struct gendisk *disk;
	int err;

	dev->tag_set.ops = &dmpseg_mq_ops;
	dev->tag_set.nr_hw_queues = 1;
	dev->tag_set.queue_depth = 64;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	/* queue_rq sleeps on the segment lock. */
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE | BLK_MQ_F_BLOCKING;
	err = blk_mq_alloc_tag_set(&dev->tag_set);
	if (err)
		return err;
	disk = blk_mq_alloc_disk(&dev->tag_set, dev);
	if (IS_ERR(disk)) {
		blk_mq_free_tag_set(&dev->tag_set);
		return PTR_ERR(disk);
	}
	disk->major = dmpseg_blk_major;
	disk->first_minor = dev->idx;
	disk->minors = 1;
	disk->fops = &dmpseg_blk_fops;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "dmpsegblk%d", dev->idx);
	blk_queue_physical_block_size(disk->queue, PAGE_SIZE);
	set_capacity(disk, dev->size >> SECTOR_SHIFT);
	if (dev->ro)
		set_disk_ro(disk, true);
	err = add_disk(disk);
	if (err) {
		put_disk(disk);
		blk_mq_free_tag_set(&dev->tag_set);
		return err;
	}
	dev->disk = disk;
	dev->disk_added = true;
	return 0;
}

static void dmpseg_remove_disk(struct dmpseg_dev *dev)
{
	if (!dev->disk_added)
		return;
	del_gendisk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
	put_disk(dev->disk);
	dev->disk = NULL;
	dev->disk_added = false;
}

/* ---- grant mapping ------------------------------------------------------- */

static bool dmpseg_name_ok(const char *s)
{
	size_t n = strlen(s);
	size_t i;

	if (n == 0 || n > DMPSEG_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return strcmp(s, ".") && strcmp(s, "..");
}

/* Map nr grants read-only or writable; on failure unmaps what succeeded. */
static int dmpseg_map(struct xenbus_device *xbdev, const grant_ref_t *refs,
		      unsigned int nr, bool ro, struct page **pages,
		      struct gnttab_map_grant_ref *map_ops,
		      struct gnttab_unmap_grant_ref *unmap_ops)
{
	u32 flags = GNTMAP_host_map | (ro ? GNTMAP_readonly : 0);
	unsigned int i, bad = 0;
	int err;

	for (i = 0; i < nr; i++)
		gnttab_set_map_op(&map_ops[i],
				  (unsigned long)pfn_to_kaddr(page_to_pfn(pages[i])),
				  flags, refs[i], xbdev->otherend_id);
	err = gnttab_map_refs(map_ops, NULL, pages, nr);
	if (err)
		return err;
	for (i = 0; i < nr; i++) {
		gnttab_set_unmap_op(&unmap_ops[i],
				    (unsigned long)pfn_to_kaddr(page_to_pfn(pages[i])),
				    flags, map_ops[i].handle);
		if (map_ops[i].status != GNTST_okay) {
			bad++;
			unmap_ops[i].handle = INVALID_GRANT_HANDLE;
		}
	}
	if (!bad)
		return 0;
	dev_err(&xbdev->dev, "%u of %u grants failed to map (first status %d)\n",
		bad, nr, map_ops[0].status);
	/* Unmap only the slots that mapped. */
	for (i = 0; i < nr; i++) {
		if (unmap_ops[i].handle == INVALID_GRANT_HANDLE)
			continue;
		if (gnttab_unmap_refs(&unmap_ops[i], NULL, &pages[i], 1))
			dev_err(&xbdev->dev, "cannot unmap grant %u\n", refs[i]);
	}
	return -EACCES;
}

/* Fetch the data grant references from the granted directory pages. */
static grant_ref_t *dmpseg_read_refs(struct dmpseg_dev *dev,
				     unsigned int nr_dir)
{
	struct xenbus_device *xbdev = dev->xbdev;
	grant_ref_t *dir_refs, *refs = NULL;
	struct page **dir_pages;
	struct gnttab_map_grant_ref *mops;
	struct gnttab_unmap_grant_ref *uops;
	struct gntab_unmap_queue_data uq;
	unsigned int i;
	int err = -ENOMEM;

	dir_refs = kcalloc(nr_dir, sizeof(*dir_refs), GFP_KERNEL);
	dir_pages = kcalloc(nr_dir, sizeof(*dir_pages), GFP_KERNEL);
	mops = kcalloc(nr_dir, sizeof(*mops), GFP_KERNEL);
	uops = kcalloc(nr_dir, sizeof(*uops), GFP_KERNEL);
	if (!dir_refs || !dir_pages || !mops || !uops)
		goto out;
	for (i = 0; i < nr_dir; i++) {
		char key[32];

		snprintf(key, sizeof(key), "ref-page-%u", i);
		if (xenbus_scanf(XBT_NIL, xbdev->otherend, key, "%u",
				 &dir_refs[i]) != 1) {
			err = -EINVAL;
			xenbus_dev_fatal(xbdev, err, "reading %s", key);
			goto out;
		}
	}
	err = gnttab_alloc_pages(nr_dir, dir_pages);
	if (err)
		goto out;
	err = dmpseg_map(xbdev, dir_refs, nr_dir, true, dir_pages, mops, uops);
	if (err) {
		gnttab_free_pages(nr_dir, dir_pages);
		goto out;
	}
	refs = kvcalloc(dev->nr_pages, sizeof(*refs), GFP_KERNEL);
	if (refs) {
		for (i = 0; i < dev->nr_pages; i++) {
			grant_ref_t *p = page_address(dir_pages[i / DMPSEG_REFS_PER_PAGE]);

			refs[i] = p[i % DMPSEG_REFS_PER_PAGE];
		}
	}
	uq.unmap_ops = uops;
	uq.kunmap_ops = NULL;
	uq.pages = dir_pages;
	uq.count = nr_dir;
	/* Nobody else can hold these pages, so this cannot wait long. */
	if (gnttab_unmap_refs_sync(&uq))
		dev_err(&xbdev->dev, "cannot unmap the reference directory\n");
	else
		gnttab_free_pages(nr_dir, dir_pages);
	err = refs ? 0 : -ENOMEM;
out:
	kfree(dir_refs);
	kfree(dir_pages);
	kfree(mops);
	kfree(uops);
	return err ? ERR_PTR(err) : refs;
}

static int dmpseg_connect(struct dmpseg_dev *dev)
{
	struct xenbus_device *xbdev = dev->xbdev;
	unsigned int nr_dir, ro;
	unsigned long long size;
	grant_ref_t *refs;
	char *name;
	int err;

	name = xenbus_read(XBT_NIL, xbdev->otherend, "name", NULL);
	if (IS_ERR(name)) {
		xenbus_dev_fatal(xbdev, PTR_ERR(name), "reading name");
		return PTR_ERR(name);
	}
	if (!dmpseg_name_ok(name)) {
		kfree(name);
		xenbus_dev_fatal(xbdev, -EINVAL, "bad segment name");
		return -EINVAL;
	}
	strscpy(dev->name, name, sizeof(dev->name));
	kfree(name);
	err = xenbus_gather(XBT_NIL, xbdev->otherend, "size", "%llu", &size,
			    "nr-pages", "%u", &dev->nr_pages, "ro", "%u", &ro,
			    "nr-ref-pages", "%u", &nr_dir, NULL);
	if (err) {
		xenbus_dev_fatal(xbdev, err, "reading segment description");
		return err;
	}
	if (!dev->nr_pages || dev->nr_pages > DMPSEG_MAX_PAGES ||
	    size != (u64)dev->nr_pages * PAGE_SIZE ||
	    nr_dir != DIV_ROUND_UP(dev->nr_pages, DMPSEG_REFS_PER_PAGE)) {
		xenbus_dev_fatal(xbdev, -EINVAL, "inconsistent size %llu, %u pages, %u ref pages",
				 size, dev->nr_pages, nr_dir);
		return -EINVAL;
	}
	dev->size = size;
	dev->ro = ro != 0;

	dev->pages = kvcalloc(dev->nr_pages, sizeof(*dev->pages), GFP_KERNEL);
	dev->map_ops = kvcalloc(dev->nr_pages, sizeof(*dev->map_ops), GFP_KERNEL);
	dev->unmap_ops = kvcalloc(dev->nr_pages, sizeof(*dev->unmap_ops), GFP_KERNEL);
	if (!dev->pages || !dev->map_ops || !dev->unmap_ops)
		return -ENOMEM;
	refs = dmpseg_read_refs(dev, nr_dir);
	if (IS_ERR(refs))
		return PTR_ERR(refs);
	err = gnttab_alloc_pages(dev->nr_pages, dev->pages);
	if (err) {
		kvfree(refs);
		xenbus_dev_fatal(xbdev, err, "allocating %u pages for grant mappings",
				 dev->nr_pages);
		return err;
	}
	err = dmpseg_map(xbdev, refs, dev->nr_pages, dev->ro, dev->pages,
			 dev->map_ops, dev->unmap_ops);
	kvfree(refs);
	if (err) {
		gnttab_free_pages(dev->nr_pages, dev->pages);
		xenbus_dev_fatal(xbdev, err, "mapping segment grants");
		return err;
	}
	dev->nr_mapped = dev->nr_pages;

	mutex_lock(&dmpseg_idr_lock);
	dev->idx = idr_alloc_cyclic(&dmpseg_idr, dev, 0, DMPSEG_MAX_DEVS, GFP_KERNEL);
	mutex_unlock(&dmpseg_idr_lock);
	if (dev->idx < 0) {
		err = dev->idx;
		goto fail_unmap;
	}
	down_write(&dev->lock);
	dev->live = true;
	up_write(&dev->lock);
	err = dmpseg_add_disk(dev);
	if (err)
		goto fail_idr;
	dev->chardev = device_create_with_groups(dmpseg_class, &xbdev->dev,
						 MKDEV(MAJOR(dmpseg_devt), dev->idx),
						 dev, dmpseg_groups, "dmpseg!%s", dev->name);
	if (IS_ERR(dev->chardev)) {
		err = PTR_ERR(dev->chardev);
		dev->chardev = NULL;
		goto fail_disk;
	}
	dev_info(&xbdev->dev, "segment %s: %llu bytes%s as /dev/dmpseg/%s and dmpsegblk%d\n",
		 dev->name, dev->size, dev->ro ? " read-only" : "", dev->name, dev->idx);
	return 0;

fail_disk:
	dmpseg_remove_disk(dev);
fail_idr:
	down_write(&dev->lock);
	dev->live = false;
	up_write(&dev->lock);
	mutex_lock(&dmpseg_idr_lock);
	idr_remove(&dmpseg_idr, dev->idx);
	mutex_unlock(&dmpseg_idr_lock);
fail_unmap:
	dev->unmap_data.unmap_ops = dev->unmap_ops;
	dev->unmap_data.kunmap_ops = NULL;
	dev->unmap_data.pages = dev->pages;
	dev->unmap_data.count = dev->nr_mapped;
	if (gnttab_unmap_refs_sync(&dev->unmap_data))
		dev_err(&xbdev->dev, "cannot unmap grants; leaking %u pages\n", dev->nr_mapped);
	else
		gnttab_free_pages(dev->nr_mapped, dev->pages);
	dev->nr_mapped = 0;
	xenbus_dev_fatal(xbdev, err, "exposing segment");
	return err;
}

static void dmpseg_unmapped(int result, struct gntab_unmap_queue_data *data)
{
	struct dmpseg_dev *dev = data->data;

	if (result) {
		/* A page still mapped by Xen must never go back to the allocator. */
		dev_err(&dev->xbdev->dev, "unmapping segment %s failed (%d): leaking %u pages\n",
			dev->name, result, dev->nr_mapped);
	} else {
		gnttab_free_pages(dev->nr_mapped, dev->pages);
	}
	dev->nr_mapped = 0;
	xenbus_frontend_closed(dev->xbdev);
	complete(&dev->unmapped);
	module_put(THIS_MODULE);
}

/*
 * Take the segment away from every user, then unmap its grants.  Returns
 * true if an asynchronous unmap was started (dmpseg_unmapped completes it).
 */
static bool dmpseg_disconnect(struct dmpseg_dev *dev)
{
	struct dmpseg_file *f;

	if (dev->unmapping)
		return true;
	down_write(&dev->lock);
	dev->live = false;
	up_write(&dev->lock);
	if (!dev->nr_mapped) {
		xenbus_frontend_closed(dev->xbdev);
		return false;
	}
	/* Every mapping of this segment goes through one of its open files. */
	mutex_lock(&dev->files_lock);
	list_for_each_entry(f, &dev->files, list)
		unmap_mapping_range(f->file->f_mapping, 0, 0, 1);
	mutex_unlock(&dev->files_lock);
	dmpseg_remove_disk(dev);
	if (dev->chardev) {
		device_destroy(dmpseg_class, MKDEV(MAJOR(dmpseg_devt), dev->idx));
		dev->chardev = NULL;
	}
	mutex_lock(&dmpseg_idr_lock);
	idr_remove(&dmpseg_idr, dev->idx);
	mutex_unlock(&dmpseg_idr_lock);
	dev->unmapping = true;
	__module_get(THIS_MODULE);
	dev->unmap_data.data = dev;
	dev->unmap_data.done = dmpseg_unmapped;
	dev->unmap_data.unmap_ops = dev->unmap_ops;
	dev->unmap_data.kunmap_ops = NULL;
	dev->unmap_data.pages = dev->pages;
	dev->unmap_data.count = dev->nr_mapped;
	dev_info(&dev->xbdev->dev, "segment %s: detaching\n", dev->name);
	/* Waits (in a work item) until no one holds an extra page reference. */
	gnttab_unmap_refs_async(&dev->unmap_data);
	return true;
}

/* ---- xenbus -------------------------------------------------------------- */

static void dmpseg_backend_changed(struct xenbus_device *xbdev,
				   enum xenbus_state backend_state)
{
	struct dmpseg_dev *dev = dev_get_drvdata(&xbdev->dev);

	switch (backend_state) {
	case XenbusStateInitWait:
	case XenbusStateConnected:
		if (xbdev->state != XenbusStateInitialising)
			break;
		if (dmpseg_connect(dev) == 0)
			xenbus_switch_state(xbdev, XenbusStateConnected);
		break;
	case XenbusStateClosing:
	case XenbusStateClosed:
	case XenbusStateUnknown:
		if (xbdev->state == XenbusStateClosed || dev->unmapping)
			break;
		if (hold_on_close && backend_state == XenbusStateClosing) {
			dev_warn(&xbdev->dev, "segment %s: hold_on_close set, ignoring Closing\n",
				 dev->name);
			break;
		}
		dmpseg_disconnect(dev);
		break;
	default:
		break;
	}
}

static int dmpseg_probe(struct xenbus_device *xbdev,
			const struct xenbus_device_id *id)
{
	struct dmpseg_dev *dev;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	kref_init(&dev->kref);
	init_rwsem(&dev->lock);
	mutex_init(&dev->files_lock);
	INIT_LIST_HEAD(&dev->files);
	init_completion(&dev->unmapped);
	dev->xbdev = xbdev;
	dev->idx = -1;
	dev_set_drvdata(&xbdev->dev, dev);
	/* The backend state watch fires once at registration and drives the rest. */
	return 0;
}

static void dmpseg_remove(struct xenbus_device *xbdev)
{
	struct dmpseg_dev *dev = dev_get_drvdata(&xbdev->dev);

	if (dmpseg_disconnect(dev))
		/* Pages may be pinned by I/O in flight: free nothing until unmapped. */
		wait_for_completion(&dev->unmapped);
	dev_set_drvdata(&xbdev->dev, NULL);
	kref_put(&dev->kref, dmpseg_free);
}

static const struct xenbus_device_id dmpseg_ids[] = {
	{ "dmpseg" },
	{ "" }
};

static struct xenbus_driver dmpseg_driver = {
	.ids = dmpseg_ids,
	.probe = dmpseg_probe,
	.remove = dmpseg_remove,
	.otherend_changed = dmpseg_backend_changed,
	.not_essential = true,
};

static int __init dmpseg_init(void)
{
	int err;

	if (!xen_domain() || xen_initial_domain())
		return -ENODEV;
	err = alloc_chrdev_region(&dmpseg_devt, 0, DMPSEG_MAX_DEVS, "dmpseg");
	if (err)
		return err;
	cdev_init(&dmpseg_cdev, &dmpseg_fops);
	err = cdev_add(&dmpseg_cdev, dmpseg_devt, DMPSEG_MAX_DEVS);
	if (err)
		goto fail_region;
	dmpseg_class = class_create(THIS_MODULE, "dmpseg");
	if (IS_ERR(dmpseg_class)) {
		err = PTR_ERR(dmpseg_class);
		goto fail_cdev;
	}
	dmpseg_blk_major = register_blkdev(0, "dmpsegblk");
	if (dmpseg_blk_major < 0) {
		err = dmpseg_blk_major;
		goto fail_class;
	}
	err = xenbus_register_frontend(&dmpseg_driver);
	if (err)
		goto fail_blk;
	return 0;

fail_blk:
	unregister_blkdev(dmpseg_blk_major, "dmpsegblk");
fail_class:
	class_destroy(dmpseg_class);
fail_cdev:
	cdev_del(&dmpseg_cdev);
fail_region:
	unregister_chrdev_region(dmpseg_devt, DMPSEG_MAX_DEVS);
	return err;
}

static void __exit dmpseg_exit(void)
{
	xenbus_unregister_driver(&dmpseg_driver);
	unregister_blkdev(dmpseg_blk_major, "dmpsegblk");
	class_destroy(dmpseg_class);
	cdev_del(&dmpseg_cdev);
	unregister_chrdev_region(dmpseg_devt, DMPSEG_MAX_DEVS);
	idr_destroy(&dmpseg_idr);
}

module_init(dmpseg_init);
module_exit(dmpseg_exit);

MODULE_DESCRIPTION("Xen frontend for named memory segments granted by dom0");
MODULE_LICENSE("GPL");
MODULE_ALIAS("xen:dmpseg");
