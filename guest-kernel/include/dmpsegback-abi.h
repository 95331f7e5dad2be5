/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ioctl ABI of /dev/dmpsegback, the dom0 helper that grants pages of a dmpd
 * memory buffer to a guest.  Shared by the kernel module and dmpd.
 */
#ifndef DMPSEGBACK_ABI_H
#define DMPSEGBACK_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define DMPSEGBACK_DEVICE	"/dev/dmpsegback"
/* Grant references (uint32) that fit in one reference-directory page. */
#define DMPSEGBACK_REFS_PER_PAGE	1024
/* Largest grant set: 1 GiB of 4 KiB pages. */
#define DMPSEGBACK_MAX_PAGES	(1U << 18)

/*
 * Grant nr_pages pages starting at the page-aligned user address addr to
 * domid (read-only if readonly), write their grant references into freshly
 * allocated directory pages, grant those read-only too, and store the
 * directory pages' references in the user array at dir_refs (room for
 * ceil(nr_pages / DMPSEGBACK_REFS_PER_PAGE) entries).  id names the set.
 */
struct dmpsegback_grant {
	__u64 addr;
	__u64 dir_refs;
	__u32 nr_pages;
	__u32 nr_dir;
	__u16 domid;
	__u16 readonly;
	__u32 id;
};

/*
 * End the grants of set id that the guest no longer maps.  busy returns how
 * many are still mapped; when it is 0 the set is gone and its pages are
 * released, otherwise the pages stay pinned and the call can be repeated.
 */
struct dmpsegback_revoke {
	__u32 id;
	__u32 busy;
};

#define DMPSEGBACK_IOC_GRANT	_IOWR('S', 1, struct dmpsegback_grant)
#define DMPSEGBACK_IOC_REVOKE	_IOWR('S', 2, struct dmpsegback_revoke)

#endif
