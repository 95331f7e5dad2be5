#include "dmpxen/perfc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cpuid.h>
#include <xenctrl.h>

void dmp_perfc_free(struct dmp_perfc_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->c[i].vals);
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

int dmp_perfc_from_raw(struct dmp_perfc_snapshot *out, size_t ndesc, const char (*names)[80],
                       const uint32_t *nr_vals, const uint32_t *vals, uint32_t nr_cpus)
{
    out->n = 0;
    out->vendor = DMP_HVM_UNKNOWN;
    out->c = calloc(ndesc ? ndesc : 1, sizeof(*out->c));
    if (!out->c)
        return -ENOMEM;
    for (size_t i = 0; i < ndesc; i++) {
        struct dmp_perfc_counter *c = &out->c[i];
        memcpy(c->name, names[i], sizeof(c->name));
        c->name[sizeof(c->name) - 1] = '\0';
        c->nr_vals = nr_vals[i];
        /* Xen's descriptor does not say which counters are arrays: scalars carry one value
         * per online CPU, arrays their fixed element count. */
        c->is_array = nr_vals[i] != nr_cpus;
        c->vals = malloc((nr_vals[i] ? nr_vals[i] : 1) * sizeof(uint32_t));
        if (!c->vals) {
            dmp_perfc_free(out);
            return -ENOMEM;
        }
        memcpy(c->vals, vals, nr_vals[i] * sizeof(uint32_t));
        vals += nr_vals[i];
        out->n++;
    }
    return 0;
}

int dmp_perfc_read(struct xc_interface_core *xch, struct dmp_perfc_snapshot *out)
{
    int ndesc, nval, rc = -EIO;
    xc_physinfo_t info = { 0 };

    memset(out, 0, sizeof(*out));
    if (xc_physinfo(xch, &info) != 0)
        return errno ? -errno : -EIO;
    if (xc_perfc_query_number(xch, &ndesc, &nval) != 0)
        return errno ? -errno : -ENOSYS;
    if (ndesc <= 0 || nval <= 0)
        return -ENOSYS;

    DECLARE_HYPERCALL_BUFFER(xc_perfc_desc_t, desc);
    DECLARE_HYPERCALL_BUFFER(xc_perfc_val_t, val);
    desc = xc_hypercall_buffer_alloc(xch, desc, sizeof(*desc) * (size_t)ndesc);
    val = xc_hypercall_buffer_alloc(xch, val, sizeof(*val) * (size_t)nval);
    char (*names)[80] = calloc((size_t)ndesc, 80);
    uint32_t *nr = calloc((size_t)ndesc, sizeof(uint32_t));
    if (!desc || !val || !names || !nr) {
        rc = -ENOMEM;
        goto out;
    }
    if (xc_perfc_query(xch, HYPERCALL_BUFFER(desc), HYPERCALL_BUFFER(val)) != 0) {
        rc = errno ? -errno : -EIO;
        goto out;
    }
    uint64_t total = 0;
    for (int i = 0; i < ndesc; i++) {
        memcpy(names[i], desc[i].name, 80);
        nr[i] = desc[i].nr_vals;
        total += nr[i];
    }
    if (total != (uint64_t)nval) {
        rc = -EPROTO;   /* layout changed between the two queries (CPU hotplug) */
        goto out;
    }
    rc = dmp_perfc_from_raw(out, (size_t)ndesc, (const char (*)[80])names, nr, val, info.nr_cpus);
    if (rc == 0)
        out->vendor = dmp_hvm_vendor_of_host();
out:
    free(names);
    free(nr);
    if (desc)
        xc_hypercall_buffer_free(xch, desc);
    if (val)
        xc_hypercall_buffer_free(xch, val);
    return rc;
}

static const struct dmp_perfc_counter *find(const struct dmp_perfc_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->c[i].name, name) == 0)
            return &s->c[i];
    return NULL;
}

/* Signed per value: most counters only grow (and may wrap once), but some are gauges that
 * one CPU increments and another decrements ("shadow pages in use"). */
static int64_t val_delta(uint32_t a, uint32_t b)
{
    return (int32_t)(b - a);
}

static int64_t counter_delta(const struct dmp_perfc_counter *a, const struct dmp_perfc_counter *b)
{
    int64_t d = 0;
    for (uint32_t i = 0; i < a->nr_vals && i < b->nr_vals; i++)
        d += val_delta(a->vals[i], b->vals[i]);
    return d;
}

int64_t dmp_perfc_delta(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                        const char *name)
{
    const struct dmp_perfc_counter *ca = find(a, name), *cb = find(b, name);
    return (ca && cb) ? counter_delta(ca, cb) : 0;
}

int64_t dmp_perfc_delta_at(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                           const char *name, uint32_t idx)
{
    const struct dmp_perfc_counter *ca = find(a, name), *cb = find(b, name);
    if (!ca || !cb || idx >= ca->nr_vals || idx >= cb->nr_vals)
        return 0;
    return val_delta(ca->vals[idx], cb->vals[idx]);
}

enum dmp_hvm_vendor dmp_hvm_vendor_of_host(void)
{
    unsigned int a, b, c, d;
    char v[13];
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return DMP_HVM_UNKNOWN;
    memcpy(v, &b, 4);
    memcpy(v + 4, &d, 4);
    memcpy(v + 8, &c, 4);
    v[12] = '\0';
    if (strcmp(v, "GenuineIntel") == 0)
        return DMP_HVM_VMX;
    if (strcmp(v, "AuthenticAMD") == 0 || strcmp(v, "HygonGenuine") == 0)
        return DMP_HVM_SVM;
    return DMP_HVM_UNKNOWN;
}

const char *dmp_hvm_vendor_name(enum dmp_hvm_vendor v)
{
    return v == DMP_HVM_SVM ? "svm" : v == DMP_HVM_VMX ? "vmx" : "unknown";
}

struct exit_name {
    uint32_t code;
    const char *name;
};

/* AMD APM vol. 2, appendix C. */
static const struct exit_name svm_exits[] = {
    { 0x00, "CR0_READ" }, { 0x03, "CR3_READ" }, { 0x04, "CR4_READ" },
    { 0x10, "CR0_WRITE" }, { 0x13, "CR3_WRITE" }, { 0x14, "CR4_WRITE" },
    { 0x41, "EXCP_DB" }, { 0x46, "EXCP_UD" }, { 0x4d, "EXCP_GP" }, { 0x4e, "EXCP_PF" },
    { 0x60, "INTR" }, { 0x61, "NMI" }, { 0x64, "VINTR" }, { 0x6e, "RDTSC" },
    { 0x72, "CPUID" }, { 0x74, "IRET" }, { 0x77, "PAUSE" }, { 0x78, "HLT" },
    { 0x79, "INVLPG" }, { 0x7a, "INVLPGA" }, { 0x7b, "IOIO" }, { 0x7c, "MSR" },
    { 0x7f, "SHUTDOWN" }, { 0x81, "VMMCALL" }, { 0x87, "RDTSCP" }, { 0x89, "WBINVD" },
    { 0x8d, "XSETBV" }, { 0x8e, "RDPRU" },
};

/* Intel SDM vol. 3, appendix C (basic exit reasons). */
static const struct exit_name vmx_exits[] = {
    { 0, "EXCEPTION_NMI" }, { 1, "EXTERNAL_INTERRUPT" }, { 2, "TRIPLE_FAULT" },
    { 7, "INTERRUPT_WINDOW" }, { 8, "NMI_WINDOW" }, { 9, "TASK_SWITCH" }, { 10, "CPUID" },
    { 12, "HLT" }, { 13, "INVD" }, { 14, "INVLPG" }, { 15, "RDPMC" }, { 16, "RDTSC" },
    { 18, "VMCALL" }, { 28, "CR_ACCESS" }, { 29, "DR_ACCESS" }, { 30, "IO_INSTRUCTION" },
    { 31, "MSR_READ" }, { 32, "MSR_WRITE" }, { 33, "INVALID_GUEST_STATE" }, { 36, "MWAIT" },
    { 37, "MONITOR_TRAP_FLAG" }, { 39, "MONITOR" }, { 40, "PAUSE" }, { 41, "MCE_DURING_ENTRY" },
    { 43, "TPR_BELOW_THRESHOLD" }, { 44, "APIC_ACCESS" }, { 45, "EOI_INDUCED" },
    { 46, "GDTR_IDTR" }, { 47, "LDTR_TR" }, { 48, "EPT_VIOLATION" }, { 49, "EPT_MISCONFIG" },
    { 50, "INVEPT" }, { 51, "RDTSCP" }, { 52, "PREEMPTION_TIMER" }, { 53, "INVVPID" },
    { 54, "WBINVD" }, { 55, "XSETBV" }, { 56, "APIC_WRITE" }, { 57, "RDRAND" },
    { 58, "INVPCID" }, { 59, "VMFUNC" }, { 61, "RDSEED" }, { 62, "PML_FULL" },
    { 63, "XSAVES" }, { 64, "XRSTORS" },
};

const char *dmp_vmexit_name(enum dmp_hvm_vendor v, uint32_t idx)
{
    const struct exit_name *t = v == DMP_HVM_SVM ? svm_exits : v == DMP_HVM_VMX ? vmx_exits : NULL;
    size_t n = v == DMP_HVM_SVM ? sizeof(svm_exits) / sizeof(svm_exits[0])
               : v == DMP_HVM_VMX ? sizeof(vmx_exits) / sizeof(vmx_exits[0]) : 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].code == idx)
            return t[i].name;
    return NULL;
}

int64_t dmp_perfc_exits(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                        enum dmp_exit_kind kind)
{
    static const uint32_t svm_code[] = { [DMP_EXIT_PF] = 0x4e, [DMP_EXIT_CR3_WRITE] = 0x13,
                                         [DMP_EXIT_INVLPG] = 0x79 };
    switch (a->vendor) {
    case DMP_HVM_SVM:
        return dmp_perfc_delta_at(a, b, "vmexits", svm_code[kind]);
    case DMP_HVM_VMX:
        if (kind == DMP_EXIT_PF)
            return dmp_perfc_delta_at(a, b, "cause vector", 14);
        return dmp_perfc_delta_at(a, b, "vmexits", kind == DMP_EXIT_CR3_WRITE ? 28 : 14);
    default:
        return 0;
    }
}

int dmp_perfc_delta_json(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                         struct dmp_json *j)
{
    if (a->n != b->n)
        return -EINVAL;
    dmp_json_obj_begin(j);
    for (size_t i = 0; i < a->n; i++) {
        const struct dmp_perfc_counter *ca = &a->c[i], *cb = &b->c[i];
        if (strcmp(ca->name, cb->name) != 0 || ca->nr_vals != cb->nr_vals) {
            dmp_json_obj_end(j);
            return -EINVAL;
        }
        int64_t d = counter_delta(ca, cb);
        if (!d)
            continue;
        dmp_json_key(j, ca->name);
        if (!ca->is_array) {
            dmp_json_i64(j, d);
            continue;
        }
        bool vmexits = strcmp(ca->name, "vmexits") == 0;
        dmp_json_obj_begin(j);
        DMP_JSON_KV(j, "total", dmp_json_i64, d);
        dmp_json_key(j, "by_index");
        dmp_json_obj_begin(j);
        for (uint32_t k = 0; k < ca->nr_vals; k++) {
            int64_t dk = val_delta(ca->vals[k], cb->vals[k]);
            if (!dk)
                continue;
            char key[64];
            const char *nm = vmexits ? dmp_vmexit_name(a->vendor, k) : NULL;
            if (nm)
                snprintf(key, sizeof(key), "0x%x:%s", k, nm);
            else
                snprintf(key, sizeof(key), "0x%x", k);
            DMP_JSON_KV(j, key, dmp_json_i64, dk);
        }
        dmp_json_obj_end(j);
        dmp_json_obj_end(j);
    }
    dmp_json_obj_end(j);
    return 0;
}
