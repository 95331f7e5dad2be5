/* Live patching of a running guest kernel: the pure logic behind `dmpctl dmp patch / status /
 * unpatch` (no Xen here, so all of it is unit-tested): where the stub area goes, which sites
 * are patched, the "passthrough" hv_update implementation, safety checks on vCPU positions,
 * and the undo journal.
 *
 * Stub area: a run of int3 alignment padding inside the live kernel text [_stext, _etext).
 * Those bytes are never executed (nothing branches there: no symbol starts inside), never
 * freed (only init text and the text/rodata gap after _etext are freed), already mapped
 * present + executable and read-only for the guest, and within rel32 reach of every site by
 * construction. So placing stubs there needs no page-table change and no new frame; unpatch
 * writes the int3 bytes back and the text is byte-for-byte what it was.
 *
 * Passthrough mode: the hv slot points at a small function (also in the stub area) that does
 * exactly the write / CR3 load / invalidation the original instruction did. The guest behaves
 * as before and takes the same exits; the slot is where the hypervisor fast path plugs in.
 */
#ifndef DMP_LIVEPATCH_H
#define DMP_LIVEPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/classify.h"
#include "dmppatcher/codeview.h"
#include "dmppatcher/plan.h"

#define DMP_LP_MODE "passthrough"          /* the default mode */
#define DMP_LP_MODE_PASSTHROUGH "passthrough"
#define DMP_LP_MODE_FASTPATH "fastpath"
#define DMP_LP_GUARD 4096u              /* padding left untouched on both sides of the area */
#define DMP_LP_MIN_AREA (64u * 1024)    /* smallest stub area accepted */
#define DMP_LP_MAX_AREA (256u * 1024)   /* largest used (planner budget) */
#define DMP_LP_PAD 0xcc

/* Find the stub area: the longest run of int3 padding in cv's text with no symbol starting
 * inside it, minus a guard page each side, page aligned, capped at DMP_LP_MAX_AREA.
 * 0, or -ENOSPC with a message when no run gives DMP_LP_MIN_AREA bytes. */
int dmp_lp_find_area(const struct dmp_codeview *cv, uint64_t *base, size_t *size, char *err,
                     size_t errlen);

/* The sites patched by default ("all-mmu"): direct calls / jumps to the MMU helpers in the
 * boot-patched live text. Refuses (-ENOENT, message) a kernel in which native_set_pte is not
 * a known symbol: not a kernel this tool recognises. *vas is malloc'd. */
int dmp_lp_select_mmu_sites(const struct dmp_codeview *cv, const struct dmp_sites *sites,
                            uint64_t **vas, size_t *n, char *err, size_t errlen);

/* Parse a hot-address file: one address per line (first token, 0x-hex or decimal), '#'
 * comments and blank lines ignored. *vas is malloc'd. 0 or -EINVAL naming the line. */
int dmp_lp_parse_hot(const char *text, uint64_t **vas, size_t *n, char *err, size_t errlen);

/* Site kinds whose original instruction is an atomic read-modify-write: the passthrough
 * hv_update cannot replay them atomically, so they are not patched in passthrough mode. */
bool dmp_lp_kind_is_atomic(enum dmp_site_kind k);

/* The passthrough hv_update (SysV: rdi = arg, rsi = old, rdx = new, rcx = op; returns rax = 0,
 * or -EINVAL for an op it does not know). Position independent. */
const uint8_t *dmp_lp_passthrough_code(size_t *len);

/* Fast path mode (Xen patch 0007, dmp/fastpath.h): the hv_update that asks Xen to do a STORE
 * with one hypercall (rdi op, rsi arg, rdx old, r10 new) and on any error -- fast path off,
 * old value changed, anything -- falls through to the passthrough code placed right after
 * it, so it never does less than passthrough; other kinds go straight to passthrough.
 * The hypercall instruction depends on the CPU vendor: vmmcall (AMD SVM) or vmcall (VMX). */
enum dmp_lp_hvcall { DMP_LP_VMMCALL, DMP_LP_VMCALL };
const uint8_t *dmp_lp_fastpath_code(enum dmp_lp_hvcall insn, size_t *len);
const char *dmp_lp_hvcall_name(enum dmp_lp_hvcall insn);
/* From a CPUID vendor string ("AuthenticAMD", "GenuineIntel", ...); -ENOTSUP if unknown. */
int dmp_lp_hvcall_for_vendor(const char *vendor, enum dmp_lp_hvcall *insn);
/* Turn a passthrough journal/stub image (from dmp_lp_build_stub or the plan cache) into fast
 * path mode: fast path code at the old passthrough offset, passthrough right after it, hv slot
 * pointing at the fast path, mode "fastpath". -EINVAL if j is not in passthrough layout. */
struct dmp_lp_journal;
int dmp_lp_use_fastpath(struct dmp_lp_journal *j, enum dmp_lp_hvcall insn);
/* The conversion behind the modes: code (code_len bytes) goes at the passthrough offset, the
 * passthrough right after it, the hv slot at code + entry, and j->mode becomes mode.
 * -EINVAL if j is not in passthrough layout. */
int dmp_lp_insert_code(struct dmp_lp_journal *j, const uint8_t *code, size_t code_len,
                       size_t entry, const char *mode);

/* Log mode (Xen patch 0009; code and rationale in toolstack/dmp/src/stub_log.S): 8-byte
 * page-table stores inside Linux's lazy MMU sections go to a per-CPU log that one FLUSH
 * hypercall applies at the section's end. The blob is position independent; its configuration
 * block is filled by dmp_lp_use_log. */
#define DMP_LP_MODE_LOG "log"
struct dmp_lp_log_layout {     /* offsets into the blob, as laid out by stub_log.S */
    uint32_t size, hv_log, enter, leave, hvcall;
    uint32_t cfg_this_cpu_off, cfg_preempt, cfg_log, cfg_on, cfg_max, cfg_min;
};
/* Per-CPU offsets (from the kernel's BTF), the log's room and the smallest log worth a
 * hypercall. */
struct dmp_lp_log_cfg {
    uint64_t this_cpu_off;     /* per-CPU offset of this_cpu_off */
    uint64_t preempt_count;    /* per-CPU offset of __preempt_count */
    uint64_t log;              /* per-CPU offset of the log (mc_buffer) */
    uint64_t log_size;         /* bytes available there */
    uint64_t min_flush;        /* logs shorter than this are stored by the guest itself */
};
/* Measured (docs/DMP.md): sections of a few stores gain nothing from a hypercall. */
#define DMP_LP_LOG_MIN_FLUSH 16u
#define DMP_LP_LOG_HDR 16u     /* u32 entries, u32 active, 8 reserved; then 16-byte entries */
#define DMP_LP_LOG_MAX 512u    /* XEN_DMP_LOG_MAX */
const uint8_t *dmp_lp_log_code(const struct dmp_lp_log_layout **layout);
/* Entries a log of log_size bytes holds (capped at DMP_LP_LOG_MAX); 0 if not even one. */
uint64_t dmp_lp_log_capacity(uint64_t log_size);
/* Turn a passthrough journal/stub image into log mode: log blob (configured from cfg, log on)
 * at the old passthrough offset, passthrough right after it, hv slot at the blob's hv_log,
 * mode "log". *enter / *leave: guest addresses of the enter and leave entry points.
 * -EINVAL if j is not in passthrough layout or cfg gives no room for a log. */
int dmp_lp_use_log(struct dmp_lp_journal *j, enum dmp_lp_hvcall insn,
                   const struct dmp_lp_log_cfg *cfg, uint64_t *enter, uint64_t *leave);
/* For a log-mode journal: guest address of the blob's "log on" word and the per-CPU offset of
 * the log (read back from the stub image). -EINVAL for another mode or a damaged image. */
int dmp_lp_log_info(const struct dmp_lp_journal *j, uint64_t *cfg_on_va, uint64_t *log_off);
/* A plan that turns the boot-time NOP of a lazy-MMU pv-op site (len 5..16 bytes, live holds
 * the live bytes) into NOPs followed by "call target" ending at the site's end, so the return
 * address is an instruction boundary also after the site is restored. -EINVAL (message) if
 * the live bytes are not the NOP Linux writes there or target is out of rel32 reach. */
int dmp_lp_pv_site_plan(uint64_t site, const uint8_t *live, size_t len, uint64_t target,
                        const char *what, struct dmp_plan *out, char *err, size_t errlen);

/* The bytes to write at the stub area: the planner's image (used bytes from base), then the
 * passthrough hv_update at the next 16-byte boundary, with the hv slot (slot_va) pointing at
 * it. Fills j->stub_base/stub_len/stub_new/stub_old (allocated; old is left to the caller)
 * and j->hv_update. -ENOSPC when it does not fit in area bytes, -EINVAL for a slot outside. */
struct dmp_lp_journal;
int dmp_lp_build_stub(const uint8_t *img, uint64_t base, size_t used, uint64_t slot_va,
                      size_t area, struct dmp_lp_journal *j);

/* True if any of the addresses lies in [start, start + len). */
bool dmp_lp_any_in(const uint64_t *addrs, size_t n, uint64_t start, uint64_t len);

/* FNV-1a 64 of the kernel text: recognises a kernel already planned (plan cache). */
uint64_t dmp_lp_text_hash(const uint8_t *b, size_t n);

/* ---- journal ---- */

struct dmp_lp_journal {
    uint32_t domid;
    char uuid[64];
    char name[128];
    char mode[32];
    uint64_t stub_base;
    size_t stub_len;           /* bytes of [stub_base, stub_base + stub_len) written */
    uint8_t *stub_old;         /* stub_len bytes before patching (int3 padding) */
    uint8_t *stub_new;         /* stub_len bytes written (stub area image incl. hv slot) */
    uint64_t hv_update;        /* passthrough function address */
    uint64_t text_start, text_end;
    uint64_t text_hash;        /* dmp_lp_text_hash of the unpatched text (0: not recorded) */
    struct dmp_plan *plans;
    size_t nplans;
    uint64_t created;          /* unix time */
};

/* Text form ("dmplive1" ... "end <nplans>"); *out is malloc'd. 0 or -ENOMEM/-ENOSPC. */
int  dmp_lp_journal_format(const struct dmp_lp_journal *, char **out);
/* 0, or -EINVAL with a message (truncated / corrupt / wrong version). */
int  dmp_lp_journal_parse(const char *text, struct dmp_lp_journal *out, char *err, size_t errlen);
void dmp_lp_journal_free(struct dmp_lp_journal *);

#endif
