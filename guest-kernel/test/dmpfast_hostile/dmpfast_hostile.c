// SPDX-License-Identifier: GPL-2.0
/*
 * dmpfast_hostile: calls the DMP fast path hypercall (__HYPERVISOR_dmp_op,
 * our Xen patch 0007) directly, with malformed and malicious input, and
 * reports what Xen answered.  It is a lab test, not a driver: on load it
 *
 *   1. checks that the call is refused (-EPERM) while dom0 has not enabled
 *      the fast path, prints "@@FP-READY" and waits (bounded) for dom0 to
 *      enable it;
 *   2. runs every hostile case, one "@@FP-CASE" line each with the value Xen
 *      returned and the value expected, and checks that memory that must
 *      not change did not change;
 *   3. checks valid STOREs of each size really change the scratch page, and
 *      makes a burst of valid calls; then the same for FLUSH (Xen patch
 *      0009): malformed calls, unreadable logs, logs whose entries point at
 *      memory Xen must refuse (the call stops there and says how many
 *      entries it applied), valid logs up to the maximum length;
 *   4. prints "@@FP-WAIT-OFF" and waits (bounded) for dom0 to disable the
 *      fast path again, then checks -EPERM once more;
 *   5. prints "@@FP-SUMMARY cases=N failed=M" and stays loaded (init returns
 *      0 whatever happened: the lab scenario judges the lines).
 *
 * Lines are printed at KERN_ERR so that they reach the console of a guest
 * booted with "quiet".  Every wait is bounded.  Values that must not be
 * changed (shared_info, grant table, kernel text, user page) are passed
 * with new == old: even a Xen that wrongly accepted the call would not
 * corrupt them, and the non-zero answer expected shows the refusal.
 */
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/io.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/pgtable.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>

#define FP_HYPERCALL 54UL         /* __HYPERVISOR_dmp_op (__HYPERVISOR_arch_6) */
#define FP_STORE 1UL
#define FP_CR3 2UL
#define FP_INVLPG 3UL
#define FP_INVPCID 4UL
#define FP_FLUSH 5UL
#define FP_LOG_MAX 512
#define FP_OP(kind, size) ((unsigned long)(kind) | ((unsigned long)(size) << 8))

#define FP_WAIT_MS (600 * 1000)   /* how long dom0 may take to flip the switch */
#define FP_BURST 100000

static unsigned int cases, failed;
static bool amd;

/* The guest's CPU vendor decides the instruction (SVM: vmmcall, VMX: vmcall). */
static long fp_call(unsigned long op, unsigned long arg, unsigned long old,
		    unsigned long new)
{
	register unsigned long r10 asm("r10") = new;
	long ret;

	if (amd)
		asm volatile("vmmcall"
			     : "=a"(ret), "+D"(op), "+S"(arg), "+d"(old), "+r"(r10)
			     : "0"(FP_HYPERCALL)
			     : "memory");
	else
		asm volatile("vmcall"
			     : "=a"(ret), "+D"(op), "+S"(arg), "+d"(old), "+r"(r10)
			     : "0"(FP_HYPERCALL)
			     : "memory");
	return ret;
}

static void report(const char *name, long got, long want, bool mem_ok)
{
	bool ok = got == want && mem_ok;

	cases++;
	if (!ok)
		failed++;
	pr_err("@@FP-CASE %s ret=%ld want=%ld mem=%s %s\n", name, got, want,
	       mem_ok ? "ok" : "CHANGED", ok ? "ok" : "BAD");
}

/* A call on a kernel address whose 8 bytes must not change: new == old. */
static void case_keep(const char *name, unsigned long op, void *p, long want)
{
	u64 before, after;
	long r;

	if (!p) {
		pr_err("@@FP-CASE %s skipped (no address)\n", name);
		cases++;
		failed++;
		return;
	}
	before = READ_ONCE(*(u64 *)p);
	r = fp_call(op, (unsigned long)p, before, before);
	after = READ_ONCE(*(u64 *)p);
	report(name, r, want, before == after);
}

/* A call on an address that is not mapped at all: nothing to compare. */
static void case_addr(const char *name, unsigned long op, unsigned long va,
		      unsigned long old, unsigned long new, long want)
{
	report(name, fp_call(op, va, old, new), want, true);
}

/* A call on the scratch page that must not change it. */
static void case_scratch(const char *name, unsigned long op, u8 *scratch,
			 unsigned int off, unsigned long old, unsigned long new,
			 long want)
{
	static u8 copy[PAGE_SIZE];   /* init is single-threaded; too big for the stack */
	long r;

	memcpy(copy, scratch, PAGE_SIZE);
	r = fp_call(op, (unsigned long)scratch + off, old, new);
	report(name, r, want, memcmp(copy, scratch, PAGE_SIZE) == 0);
}

/* kallsyms_lookup_name is not exported; a kprobe on it gives its address. */
static unsigned long lookup(const char *sym)
{
	typedef unsigned long (*fn_t)(const char *);
	static fn_t fn;
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };

	if (!fn) {
		if (register_kprobe(&kp) < 0)
			return 0;
		fn = (fn_t)kp.addr;
		unregister_kprobe(&kp);
	}
	return fn ? fn(sym) : 0;
}

/* Wait until a harmless probe call returns (or stops returning) -EPERM. */
static bool wait_switch(u64 *probe, bool want_on)
{
	unsigned int ms;

	for (ms = 0; ms < FP_WAIT_MS; ms += 100) {
		u64 v = READ_ONCE(*probe);
		long r = fp_call(FP_OP(FP_STORE, 8), (unsigned long)probe, v, v);

		if (want_on ? r != -EPERM : r == -EPERM)
			return true;
		msleep(100);
	}
	return false;
}

static void valid_stores(u8 *scratch)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	static const u64 vals[] = { 0x5a, 0xa55a, 0xdeadbeef, 0x8000000012345067ULL };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned int off = 64 + 8 * i, sz = sizes[i];
		u64 old = 0, now = 0;
		char name[32];
		long r;

		memset(scratch + off, 0, 8);
		r = fp_call(FP_OP(FP_STORE, sz), (unsigned long)scratch + off, old, vals[i]);
		memcpy(&now, scratch + off, sz);
		snprintf(name, sizeof(name), "valid-store-%u", sz);
		/* mem=ok here means the store really happened, and only its bytes. */
		report(name, r, 0, now == vals[i] && (sz == 8 || scratch[off + sz] == 0));
	}
}

static inline void invlpg_one(const void *va)
{
	asm volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/*
 * The real use: change a live kernel PTE (a vmap of one page) through the fast
 * path to point at another page, INVLPG, and read through the mapping.  Under
 * shadow paging the read goes through the shadow, so seeing the new page
 * proves Xen updated the shadow of a page table, not only guest memory.
 * Then switch back the same way and unmap.
 */
static void real_pte(void)
{
	const u64 ma = 0xa1a2a3a4a5a6a7a8ULL, mb = 0xb1b2b3b4b5b6b7b8ULL;
	struct page *pa = alloc_page(GFP_KERNEL), *pb = alloc_page(GFP_KERNEL);
	unsigned int level = 0;
	u64 old, new, got;
	pte_t *ptep;
	void *va = NULL;
	long r;

	if (!pa || !pb)
		goto skip;
	*(u64 *)page_address(pa) = ma;
	*(u64 *)page_address(pb) = mb;
	va = vmap(&pa, 1, VM_MAP, PAGE_KERNEL);
	if (!va || READ_ONCE(*(u64 *)va) != ma)
		goto skip;
	ptep = lookup_address((unsigned long)va, &level);
	if (!ptep || level != PG_LEVEL_4K)
		goto skip;
	old = pte_val(*ptep);
	new = (old & ~PTE_PFN_MASK) | ((u64)page_to_pfn(pb) << PAGE_SHIFT);
	r = fp_call(FP_OP(FP_STORE, 8), (unsigned long)ptep, old, new);
	invlpg_one(va);
	got = READ_ONCE(*(u64 *)va);
	pr_err("@@FP-NOTE real-pte va=%px pte %llx -> %llx read %llx\n", va,
	       (unsigned long long)old, (unsigned long long)new, (unsigned long long)got);
	report("real-pte-switch", r, 0, got == mb && pte_val(*ptep) == new);
	r = fp_call(FP_OP(FP_STORE, 8), (unsigned long)ptep, new, old);
	invlpg_one(va);
	got = READ_ONCE(*(u64 *)va);
	report("real-pte-restore", r, 0, got == ma && pte_val(*ptep) == old);
	vunmap(va);
	__free_page(pa);
	__free_page(pb);
	return;
skip:
	pr_err("@@FP-CASE real-pte-switch skipped (setup failed) BAD\n");
	cases++;
	failed++;
	if (va)
		vunmap(va);
	if (pa)
		__free_page(pa);
	if (pb)
		__free_page(pb);
}

static void burst(u64 *slot)
{
	ktime_t t0 = ktime_get();
	unsigned int i, bad = 0;
	long first_bad = 0;
	s64 ns;

	WRITE_ONCE(*slot, 0);
	for (i = 0; i < FP_BURST; i++) {
		long r = fp_call(FP_OP(FP_STORE, 8), (unsigned long)slot, i, i + 1);

		if (r && !bad++)
			first_bad = r;
		if (!(i & 1023))
			cond_resched();
	}
	ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	pr_err("@@FP-BURST calls=%u failed=%u first_error=%ld final=%llu ns_per_call=%lld\n",
	       FP_BURST, bad, first_bad, (unsigned long long)READ_ONCE(*slot),
	       ns / FP_BURST);
	report("burst-100000", bad ? first_bad : 0, 0, READ_ONCE(*slot) == FP_BURST);
}

static void hostile_cases(u8 *scratch)
{
	unsigned long st8 = FP_OP(FP_STORE, 8);
	u64 cur = READ_ONCE(*(u64 *)scratch);
	void __iomem *apic, *above;
	unsigned long user, sym;
	void *vm;

	/* Op encoding. */
	case_scratch("kind-0", FP_OP(0, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("kind-unknown-9", FP_OP(9, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("kind-255", FP_OP(255, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("kind-cr3", FP_OP(FP_CR3, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("kind-invlpg", FP_OP(FP_INVLPG, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("kind-invpcid", FP_OP(FP_INVPCID, 8), scratch, 0, cur, cur + 1, -EOPNOTSUPP);
	case_scratch("reserved-op-bits", st8 | (1UL << 40), scratch, 0, cur, cur + 1, -EINVAL);
	case_scratch("reserved-op-bit63", st8 | (1UL << 63), scratch, 0, cur, cur + 1, -EINVAL);
	case_scratch("size-0", FP_OP(FP_STORE, 0), scratch, 0, cur, cur + 1, -EINVAL);
	case_scratch("size-3", FP_OP(FP_STORE, 3), scratch, 0, 0, 1, -EINVAL);
	case_scratch("size-16", FP_OP(FP_STORE, 16), scratch, 0, cur, cur + 1, -EINVAL);
	case_scratch("size-255", FP_OP(FP_STORE, 255), scratch, 0, cur, cur + 1, -EINVAL);
	case_scratch("value-wider-than-size", FP_OP(FP_STORE, 4), scratch, 0, 0, 1UL << 32, -EINVAL);
	case_scratch("old-wider-than-size", FP_OP(FP_STORE, 1), scratch, 0, 0x100, 1, -EINVAL);

	/* Alignment and page crossing. */
	case_scratch("misaligned-8-at-4", st8, scratch, 4, 0, 1, -EINVAL);
	case_scratch("misaligned-2-at-1", FP_OP(FP_STORE, 2), scratch, 1, 0, 1, -EINVAL);
	case_scratch("page-crossing-8-at-4092", st8, scratch, PAGE_SIZE - 4, 0, 1, -EINVAL);

	/* Old value mismatch: nothing written. */
	case_scratch("old-mismatch", st8, scratch, 0, cur + 1, cur + 2, -EAGAIN);

	/* Addresses that translate to nothing. */
	case_addr("null", st8, 0, 0, 1, -EFAULT);
	case_addr("non-canonical-8000..", st8, 0x8000000000000000UL, 0, 1, -EFAULT);
	case_addr("non-canonical-0000_8000..", st8, 0x0000800000000000UL, 0, 1, -EFAULT);
	case_addr("non-canonical-alias-of-scratch", st8,
		  (unsigned long)scratch & ~0xffff000000000000UL, cur, cur + 1, -EFAULT);
	case_addr("guard-hole-ffff8000..1000", st8, 0xffff800000001000UL, 0, 1, -EFAULT);
	vm = vmalloc(PAGE_SIZE);
	if (vm) {
		vfree(vm);   /* PTEs are cleared at once; only the TLB flush is lazy */
		case_addr("vmalloc-freed", st8, (unsigned long)vm, 0, 1, -EFAULT);
	}

	/* Kernel text is mapped read-only: a supervisor write does not translate. */
	case_keep("kernel-text-readonly", st8, (void *)((unsigned long)&msleep & ~7UL), -EFAULT);

	/* A user page of this (insmod) process: present, writable, user. */
	user = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, 0);
	if (!IS_ERR_VALUE(user)) {
		u64 before = 0x1122334455667788ULL, after = 0;
		long r;
		bool mem_ok;

		if (put_user(before, (u64 __user *)user))
			pr_err("@@FP-NOTE cannot write the user page\n");
		r = fp_call(st8, user, before, before + 1);
		mem_ok = !get_user(after, (u64 __user *)user) && after == before;
		report("user-page", r, -EFAULT, mem_ok);
		vm_munmap(user, PAGE_SIZE);
	} else {
		pr_err("@@FP-CASE user-page skipped (vm_mmap %ld)\n", (long)user);
		cases++;
		failed++;
	}

	/* MMIO: the local APIC page (emulated, not RAM). */
	apic = ioremap(0xfee00000UL, PAGE_SIZE);
	if (apic) {
		case_addr("mmio-local-apic", st8, (unsigned long)apic + 0x80, 0, 0, -EPERM);
		iounmap(apic);
	}
	/* A gfn far above the guest's RAM (64 GiB): nothing there. */
	above = ioremap(64UL << 30, PAGE_SIZE);
	if (above) {
		case_addr("above-ram-64g", st8, (unsigned long)above, 0, 1, -EPERM);
		iounmap(above);
	}

	/* Frames that belong to Xen but are mapped in the guest's physmap. */
	sym = lookup("HYPERVISOR_shared_info");
	case_keep("xen-shared-info", st8, sym ? *(void **)sym : NULL, -EPERM);
	sym = lookup("xen_auto_xlat_grant_frames");
	if (sym) {
		/* struct grant_frames { xen_pfn_t *pfn; unsigned int count; void *vaddr; } */
		struct { unsigned long *pfn; unsigned int count; void *vaddr; } *gf = (void *)sym;

		case_keep("xen-grant-table-frame", st8, gf->count ? gf->vaddr : NULL, -EPERM);
	} else {
		case_keep("xen-grant-table-frame", st8, NULL, -EPERM);
	}
}

/* One FLUSH of log (n entries, 16 bytes each: va, val) and how many Xen applied. */
struct fp_entry {
	u64 va, val;
};

static long flush(struct fp_entry *log, unsigned long n)
{
	return fp_call(FP_FLUSH, (unsigned long)log, n, 0);
}

/* Did exactly the first `applied` entries of the log reach memory? Entries
 * carry distinct new values on a page whose old contents are in copy. */
static bool flush_mem_ok(const u64 *tgt, const u64 *copy, unsigned int words,
			 const struct fp_entry *log, unsigned long n, long applied)
{
	unsigned long k, lim = applied > 0 ? min_t(unsigned long, n, applied) : 0;
	unsigned int i;

	for (i = 0; i < words; i++) {
		u64 want = copy[i];

		for (k = 0; k < lim; k++)
			if (log[k].va == (u64)(unsigned long)&tgt[i])
				want = log[k].val;
		if (READ_ONCE(tgt[i]) != want)
			return false;
	}
	return true;
}

static void case_flush(const char *name, u64 *tgt, struct fp_entry *log,
		       unsigned long n, long want)
{
	static u64 copy[PAGE_SIZE / 8];
	long r;

	memcpy(copy, tgt, PAGE_SIZE);
	r = flush(log, n);
	report(name, r, want, flush_mem_ok(tgt, copy, PAGE_SIZE / 8, log, n, r));
}

/* A long valid log: Xen may answer in parts (it yields after any 16-entry
 * chunk when it has other work); call again for the rest until all of it is
 * applied, bounded by one call per entry. */
static void case_flush_all(const char *name, u64 *tgt, struct fp_entry *log,
			   unsigned long n)
{
	static u64 copy[PAGE_SIZE / 8];
	unsigned long done = 0, calls = 0;

	memcpy(copy, tgt, PAGE_SIZE);
	while (done < n && calls < n) {
		long r = flush(log + done, n - done);

		calls++;
		if (r <= 0)
			break;
		done += r;
	}
	pr_err("@@FP-NOTE %s: %lu entries applied in %lu calls\n", name, done, calls);
	report(name, done, n, flush_mem_ok(tgt, copy, PAGE_SIZE / 8, log, n, done));
}

static void flush_cases(u8 *scratch)
{
	u64 *tgt = (u64 *)get_zeroed_page(GFP_KERNEL);
	struct fp_entry *log = vmalloc(2 * PAGE_SIZE);
	struct fp_entry *edge;
	unsigned long sym, i;
	void *vm;

	if (!tgt || !log) {
		pr_err("@@FP-CASE flush-setup skipped (no memory) BAD\n");
		cases++;
		failed++;
		goto out;
	}
	for (i = 0; i < 2 * PAGE_SIZE / sizeof(*log); i++)
		log[i] = (struct fp_entry){ (u64)(unsigned long)&tgt[i % 512], 0x1000 + i };

	/* Malformed calls: nothing applied, the target page unchanged. */
	case_flush("flush-count-0", tgt, log, 0, -EINVAL);
	case_flush("flush-count-513", tgt, log, FP_LOG_MAX + 1, -EINVAL);
	case_flush("flush-count-huge", tgt, log, ~0UL, -EINVAL);
	case_scratch("flush-misaligned-log", FP_FLUSH, scratch, 4, 1, 0, -EINVAL);
	report("flush-r10-nonzero", fp_call(FP_FLUSH, (unsigned long)log, 1, 1), -EINVAL,
	       READ_ONCE(tgt[0]) == 0);
	report("flush-size-bits", fp_call(FP_OP(FP_FLUSH, 8), (unsigned long)log, 1, 0),
	       -EINVAL, READ_ONCE(tgt[0]) == 0);
	report("flush-site-bits", fp_call(FP_FLUSH | (1UL << 16), (unsigned long)log, 1, 0),
	       -EINVAL, READ_ONCE(tgt[0]) == 0);

	/* Logs Xen cannot read: 0 applied (the guest would store them itself). */
	report("flush-log-null", fp_call(FP_FLUSH, 0, 1, 0), 0, READ_ONCE(tgt[0]) == 0);
	report("flush-log-noncanonical", fp_call(FP_FLUSH, 0x8000000000000000UL, 4, 0), 0,
	       READ_ONCE(tgt[0]) == 0);
	vm = vmalloc(PAGE_SIZE);
	if (vm) {
		vfree(vm);
		report("flush-log-freed", fp_call(FP_FLUSH, (unsigned long)vm, 4, 0), 0,
		       READ_ONCE(tgt[0]) == 0);
	}
	/* The log runs from the last entry of a page into the vmalloc guard page:
	 * the chunk that cannot be read is not applied, not even its first entry. */
	edge = (struct fp_entry *)((u8 *)log + 2 * PAGE_SIZE) - 1;
	*edge = (struct fp_entry){ (u64)(unsigned long)&tgt[7], 0x77 };
	case_flush("flush-log-into-guard", tgt, edge, 2, 0);
	log[2 * PAGE_SIZE / sizeof(*log) - 1] = (struct fp_entry){
		(u64)(unsigned long)&tgt[511], 0x1000 + 2 * PAGE_SIZE / sizeof(*log) - 1 };

	/* Entries Xen must refuse, after two valid ones: it applies the two and
	 * stops. Refused targets are given their current value, so that even a
	 * wrong accept would not corrupt them. */
	log[2].va = (u64)(unsigned long)&tgt[2] + 4;
	case_flush("flush-entry-misaligned", tgt, log, 4, 2);
	log[2].va = (u64)(unsigned long)&msleep & ~7UL;
	log[2].val = READ_ONCE(*(u64 *)(unsigned long)log[2].va);
	case_flush("flush-entry-kernel-text", tgt, log, 4, 2);
	log[2].va = 0x8000000000000000UL;
	case_flush("flush-entry-noncanonical", tgt, log, 4, 2);
	sym = lookup("HYPERVISOR_shared_info");
	if (sym && *(void **)sym) {
		log[2].va = (u64)(unsigned long)*(void **)sym;
		log[2].val = READ_ONCE(*(u64 *)*(void **)sym);
		case_flush("flush-entry-shared-info", tgt, log, 4, 2);
	} else {
		pr_err("@@FP-CASE flush-entry-shared-info skipped (no address) BAD\n");
		cases++;
		failed++;
	}
	log[2] = (struct fp_entry){ (u64)(unsigned long)&tgt[2], 0x1002 };

	/* Valid logs: every entry applied, in order (a later entry for the same
	 * word wins), up to the maximum length. */
	memset(tgt, 0, PAGE_SIZE);
	case_flush("flush-valid-3", tgt, log, 3, 3);
	log[3] = (struct fp_entry){ (u64)(unsigned long)&tgt[0], 0xabcd };
	case_flush("flush-valid-same-word-twice", tgt, log, 4, 4);
	report("flush-order", 0, 0, READ_ONCE(tgt[0]) == 0xabcd);
	log[3] = (struct fp_entry){ (u64)(unsigned long)&tgt[3], 0x1003 };
	memset(tgt, 0, PAGE_SIZE);
	case_flush_all("flush-valid-512", tgt, log, FP_LOG_MAX);
out:
	vfree(log);
	free_page((unsigned long)tgt);
}

static int __init dmpfast_hostile_init(void)
{
	u8 *scratch = (u8 *)get_zeroed_page(GFP_KERNEL);
	u64 *probe;

	if (!scratch) {
		pr_err("@@FP-SUMMARY cases=0 failed=1 (no scratch page)\n");
		return 0;
	}
	probe = (u64 *)(scratch + 2048);
	amd = boot_cpu_data.x86_vendor == X86_VENDOR_AMD ||
	      boot_cpu_data.x86_vendor == X86_VENDOR_HYGON;
	pr_err("@@FP-START vendor=%s insn=%s scratch=%px\n", amd ? "amd" : "intel",
	       amd ? "vmmcall" : "vmcall", scratch);

	case_scratch("disabled", FP_OP(FP_STORE, 8), scratch, 0, 0, 1, -EPERM);

	pr_err("@@FP-READY\n");
	if (!wait_switch(probe, true)) {
		pr_err("@@FP-CASE enable-wait ret=-1 want=0 mem=ok BAD (never enabled)\n");
		cases++;
		failed++;
		goto out;
	}
	pr_err("@@FP-ENABLED\n");

	*(u64 *)scratch = 0x1000000000000067ULL;
	hostile_cases(scratch);
	valid_stores(scratch);
	real_pte();
	burst((u64 *)(scratch + 1024));
	flush_cases(scratch);

	pr_err("@@FP-WAIT-OFF\n");
	if (!wait_switch(probe, false)) {
		pr_err("@@FP-CASE disable-wait ret=-1 want=0 mem=ok BAD (never disabled)\n");
		cases++;
		failed++;
		goto out;
	}
	case_scratch("disabled-again", FP_OP(FP_STORE, 8), scratch, 0,
		     *(u64 *)scratch, *(u64 *)scratch + 1, -EPERM);
out:
	pr_err("@@FP-SUMMARY cases=%u failed=%u\n", cases, failed);
	free_page((unsigned long)scratch);
	return 0;
}

static void __exit dmpfast_hostile_exit(void)
{
}

module_init(dmpfast_hostile_init);
module_exit(dmpfast_hostile_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("DMP lab: hostile calls of the Xen fast path hypercall");
