/* Log mode of the live patcher: installs the guest code of stub_log.S (configured for one
 * kernel) in the stub area and makes the lazy-MMU pv-op sites call it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmp/livepatch.h"

extern const uint8_t dmp_log_code[];
extern const struct dmp_lp_log_layout dmp_log_layout;

const uint8_t *dmp_lp_log_code(const struct dmp_lp_log_layout **layout)
{
    *layout = &dmp_log_layout;
    return dmp_log_code;
}

uint64_t dmp_lp_log_capacity(uint64_t log_size)
{
    if (log_size < DMP_LP_LOG_HDR + 16)
        return 0;
    uint64_t n = (log_size - DMP_LP_LOG_HDR) / 16;
    return n > DMP_LP_LOG_MAX ? DMP_LP_LOG_MAX : n;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int dmp_lp_use_log(struct dmp_lp_journal *j, enum dmp_lp_hvcall insn,
                   const struct dmp_lp_log_cfg *cfg, uint64_t *enter, uint64_t *leave)
{
    const struct dmp_lp_log_layout *lay;
    const uint8_t *code = dmp_lp_log_code(&lay);
    uint64_t cap = dmp_lp_log_capacity(cfg->log_size);
    if (cap == 0)
        return -EINVAL;
    uint8_t *blob = malloc(lay->size);
    if (!blob)
        return -ENOMEM;
    memcpy(blob, code, lay->size);
    put64(blob + lay->cfg_this_cpu_off, cfg->this_cpu_off);
    put64(blob + lay->cfg_preempt, cfg->preempt_count);
    put64(blob + lay->cfg_log, cfg->log);
    put64(blob + lay->cfg_on, 1);
    put64(blob + lay->cfg_max, cap);
    put64(blob + lay->cfg_min, cfg->min_flush);
    if (insn == DMP_LP_VMCALL)
        blob[lay->hvcall + 2] = 0xc1;   /* 0f 01 c1: vmcall (VMX); the blob has vmmcall */
    int rc = dmp_lp_insert_code(j, blob, lay->size, lay->hv_log, DMP_LP_MODE_LOG);
    free(blob);
    if (rc)
        return rc;
    uint64_t base = j->hv_update - lay->hv_log;
    *enter = base + lay->enter;
    *leave = base + lay->leave;
    return 0;
}

int dmp_lp_log_info(const struct dmp_lp_journal *j, uint64_t *cfg_on_va, uint64_t *log_off)
{
    const struct dmp_lp_log_layout *lay;
    const uint8_t *code = dmp_lp_log_code(&lay);
    if (strcmp(j->mode, DMP_LP_MODE_LOG) != 0 || !j->stub_new || j->hv_update < j->stub_base ||
        j->hv_update - j->stub_base < lay->hv_log)
        return -EINVAL;
    size_t off = (size_t)(j->hv_update - j->stub_base) - lay->hv_log;
    /* The code up to the hypercall instruction (which depends on the vendor) must be ours. */
    if (off + lay->size > j->stub_len ||
        memcmp(j->stub_new + off + lay->hv_log, code + lay->hv_log, lay->hvcall - lay->hv_log) != 0)
        return -EINVAL;
    *cfg_on_va = j->stub_base + off + lay->cfg_on;
    *log_off = get64(j->stub_new + off + lay->cfg_log);
    return 0;
}

/* The NOPs Linux writes over a pv-op call it patches out (x86_nops, P6 forms). */
static const uint8_t *boot_nop(size_t len)
{
    static const uint8_t n5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
    static const uint8_t n6[] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
    static const uint8_t n7[] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 };
    static const uint8_t n8[] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 };
    switch (len) {
    case 5: return n5;
    case 6: return n6;
    case 7: return n7;
    case 8: return n8;
    default: return NULL;
    }
}

int dmp_lp_pv_site_plan(uint64_t site, const uint8_t *live, size_t len, uint64_t target,
                        const char *what, struct dmp_plan *out, char *err, size_t errlen)
{
    const uint8_t *nop = boot_nop(len);
    if (!nop || memcmp(live, nop, len) != 0) {
        snprintf(err, errlen,
                 "%s site 0x%" PRIx64 " (%zu bytes) does not hold the NOP Linux leaves there "
                 "on HVM/PVH (a PV guest, or a kernel this tool does not know)", what, site, len);
        return -EINVAL;
    }
    /* The call ends at the site's end: its return address stays an instruction boundary
     * when unpatch writes the NOP back. */
    uint64_t call = site + len - 5;
    int64_t rel = (int64_t)(target - (call + 5));
    if (rel != (int32_t)rel) {
        snprintf(err, errlen, "%s site 0x%" PRIx64 ": stub 0x%" PRIx64 " out of rel32 reach",
                 what, site, target);
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->site = out->hot = site;
    out->len = (uint8_t)len;
    memcpy(out->old_bytes, live, len);
    memset(out->new_bytes, 0x90, len - 5);
    out->new_bytes[len - 5] = 0xe8;
    for (int i = 0; i < 4; i++)
        out->new_bytes[len - 4 + (size_t)i] = (uint8_t)((uint32_t)rel >> (8 * i));
    out->stub_id = -1;
    out->stub_va = target;
    out->tactic = DMP_TACTIC_RETARGET;
    out->reason = DMP_REFUSE_NONE;
    snprintf(out->func, sizeof(out->func), "lazy_mmu_%s", what);
    snprintf(out->detail, sizeof(out->detail), "pv-op site: call log-mode %s", what);
    return 0;
}
