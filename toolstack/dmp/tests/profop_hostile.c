/* dmp-profop-hostile: feed the hypervisor's trap profiler op (XEN_DOMCTL_dmp_trap_profile)
 * bad and hostile arguments and check that each gets the documented error, then exercise
 * the good paths (size query, short buffer, reset, enable/disable cycles). Lab-only: needs
 * our hypervisor and a running shadow-paged HVM/PVH guest. Used by
 * tests/lab/scenarios/dmp-profile.sh.
 *
 * usage: dmp-profop-hostile --shadow DOMID [--hap DOMID] [--leave-enabled]
 * Prints one line per check ("ok"/"FAIL ... expected ..., got ..."); exit 0 only if all pass.
 * --leave-enabled ends with profiling enabled, so that the scenario can destroy the domain
 * with its tables in place. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmp/profile.h"
#include "dmpcommon/util.h"

static int failures, checks;

static void expect(const char *what, int got, int want)
{
    checks++;
    if (got == want) {
        printf("ok   %-58s %s\n", what, want ? strerror(-want) : "0");
        return;
    }
    failures++;
    printf("FAIL %-58s expected %d (%s), got %d (%s)\n", what, want,
           want ? strerror(-want) : "success", got, got ? strerror(-got) : "success");
}

static void expect_true(const char *what, bool cond, const char *detail)
{
    checks++;
    if (cond) {
        printf("ok   %s\n", what);
    } else {
        failures++;
        printf("FAIL %s: %s\n", what, detail);
    }
}

static int op(struct dmp_profiler *pr, uint32_t dom, uint32_t which, uint32_t slots,
              uint32_t vcpu, uint32_t nr, uint64_t buffer, struct dmp_trap_profile_op *out)
{
    struct dmp_trap_profile_op o = { .op = which, .slots = slots, .vcpu = vcpu,
                                     .nr_entries = nr, .buffer = buffer };
    int rc = dmp_profiler_raw(pr, dom, &o);
    if (out)
        *out = o;
    return rc;
}

static uint64_t sum_totals(const struct dmp_trap_profile_op *o)
{
    uint64_t t = 0;
    for (int k = 1; k < DMP_TRAP_KIND_NR; k++)
        t += o->totals[k];
    return t;
}

int main(int argc, char **argv)
{
    uint64_t shadow = UINT64_MAX, hap = UINT64_MAX;
    bool leave = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shadow") == 0 && i + 1 < argc) {
            if (dmp_parse_u64(argv[++i], &shadow) != 0 || shadow > 0x7fef)
                shadow = UINT64_MAX;
        } else if (strcmp(argv[i], "--hap") == 0 && i + 1 < argc) {
            if (dmp_parse_u64(argv[++i], &hap) != 0 || hap > 0x7fef)
                hap = UINT64_MAX;
        } else if (strcmp(argv[i], "--leave-enabled") == 0) {
            leave = true;
        } else {
            fprintf(stderr, "usage: dmp-profop-hostile --shadow DOMID [--hap DOMID] "
                            "[--leave-enabled]\n");
            return 2;
        }
    }
    if (shadow == UINT64_MAX) {
        fprintf(stderr, "dmp-profop-hostile: --shadow DOMID (a running shadow-paged guest) is "
                        "required\n");
        return 2;
    }
    char err[256];
    struct dmp_profiler *pr;
    if (dmp_profiler_open(&pr, err, sizeof(err)) != 0) {
        fprintf(stderr, "dmp-profop-hostile: %s\n", err);
        return 1;
    }
    const uint32_t S = (uint32_t)shadow;
    struct dmp_trap_profile_op o;
    struct dmp_trap_entry *buf = dmp_profiler_buffer(pr, DMP_TRAP_PROFILE_MAX_SLOTS);
    if (!buf) {
        fprintf(stderr, "dmp-profop-hostile: cannot allocate a hypercall buffer\n");
        return 1;
    }
    const uint64_t B = (uint64_t)(uintptr_t)buf;

    /* Who: domains that do not exist, ourselves, PV, HAP. */
    expect("enable on a domain that does not exist (32000)",
           op(pr, 32000, DMP_TRAP_PROFILE_ENABLE, 64, 0, 0, 0, NULL), -ESRCH);
    expect("read on DOMID_INVALID", op(pr, 0x7ff4, DMP_TRAP_PROFILE_READ, 0, 0, 0, 0, NULL),
           -ESRCH);
    expect("enable on dom0 (the caller itself)",
           op(pr, 0, DMP_TRAP_PROFILE_ENABLE, 64, 0, 0, 0, NULL), -EINVAL);
    expect("domid above 16 bits refused by the library",
           op(pr, 0x10000 + S, DMP_TRAP_PROFILE_ENABLE, 64, 0, 0, 0, NULL), -EINVAL);
    if (hap != UINT64_MAX)
        expect("enable on a HAP guest", op(pr, (uint32_t)hap, DMP_TRAP_PROFILE_ENABLE, 64, 0, 0,
                                           0, NULL), -EOPNOTSUPP);

    /* Operations while off. */
    expect("disable when not enabled", op(pr, S, DMP_TRAP_PROFILE_DISABLE, 0, 0, 0, 0, NULL),
           -ENOENT);
    expect("read when not enabled", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 0, 0, NULL), -ENOENT);
    expect("reset when not enabled", op(pr, S, DMP_TRAP_PROFILE_RESET, 0, 0, 0, 0, NULL),
           -ENOENT);

    /* Bad op numbers and enable arguments. */
    expect("op 0", op(pr, S, 0, 0, 0, 0, 0, NULL), -EINVAL);
    expect("op 99", op(pr, S, 99, 0, 0, 0, 0, NULL), -EINVAL);
    expect("op 0xffffffff", op(pr, S, 0xffffffffu, 0, 0, 0, 0, NULL), -EINVAL);
    expect("enable 0 slots", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 0, 0, 0, 0, NULL), -EINVAL);
    expect("enable 32 slots (below minimum)",
           op(pr, S, DMP_TRAP_PROFILE_ENABLE, 32, 0, 0, 0, NULL), -EINVAL);
    expect("enable 100 slots (not a power of two)",
           op(pr, S, DMP_TRAP_PROFILE_ENABLE, 100, 0, 0, 0, NULL), -EINVAL);
    expect("enable 32768 slots (above maximum)",
           op(pr, S, DMP_TRAP_PROFILE_ENABLE, 32768, 0, 0, 0, NULL), -E2BIG);
    expect("enable 0x80000000 slots", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 0x80000000u, 0, 0, 0,
                                         NULL), -E2BIG);
    expect("enable 0xffffffff slots", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 0xffffffffu, 0, 0, 0,
                                         NULL), -E2BIG);
    expect("enable with a vcpu field", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 64, 1, 0, 0, NULL),
           -EINVAL);
    expect("enable with a buffer", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 64, 0, 0, B, NULL),
           -EINVAL);
    expect("disable with stray fields", op(pr, S, DMP_TRAP_PROFILE_DISABLE, 64, 0, 0, 0, NULL),
           -EINVAL);

    /* Enable for real, double enable. */
    expect("enable 4096 slots", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 4096, 0, 0, 0, NULL), 0);
    expect("double enable", op(pr, S, DMP_TRAP_PROFILE_ENABLE, 4096, 0, 0, 0, NULL), -EBUSY);

    /* Wait (bounded) until the busy guest has filled some entries. */
    o.nr_entries = 0;
    for (int i = 0; i < 50 && o.nr_entries < 2; i++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        if (op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 0, 0, &o) != 0)
            break;
    }
    expect_true("size query sees entries from the running guest", o.nr_entries >= 2,
                "fewer than 2 entries after 5 s: is the guest busy and shadow-paged?");
    expect_true("size query reports slots", o.slots == 4096, "slots != 4096");

    /* Hostile reads. */
    expect("read vcpu 9999", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 9999, 0, 0, NULL), -EINVAL);
    expect("read vcpu 0xffffffff", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0xffffffffu, 0, 0, NULL),
           -EINVAL);
    expect("read with NULL buffer and 64 entries",
           op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 64, 0, NULL), -EINVAL);
    expect("read with 2^31 entries", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 0x80000000u, B,
                                        NULL), -E2BIG);
    expect("read with a slots field", op(pr, S, DMP_TRAP_PROFILE_READ, 64, 0, 0, 0, NULL),
           -EINVAL);
    expect("read into an unmapped user address",
           op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 64, 0x1000, NULL), -EFAULT);
    expect("read into a hypervisor address",
           op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 64, 0xffff830000000000ull, NULL), -EFAULT);
    expect("read into a non-canonical address",
           op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 64, 0x8000000000000000ull, NULL), -EFAULT);

    /* Good reads: short buffer reports the full count; full read has only valid entries. */
    expect("read with a 1-entry buffer", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 1, B, &o), 0);
    expect_true("short read says how many entries there are", o.nr_entries >= 2,
                "nr_entries < 2 after a 1-entry read");
    expect("read with a full buffer",
           op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, DMP_TRAP_PROFILE_MAX_SLOTS, B, &o), 0);
    bool valid = o.nr_entries > 0 && o.nr_entries <= o.slots;
    uint64_t counted = 0;
    for (uint32_t i = 0; valid && i < o.nr_entries; i++) {
        valid = dmp_trap_kind_name(buf[i].kind) && buf[i].vcpu == 0 && buf[i].count > 0;
        counted += buf[i].count;
    }
    expect_true("entries have valid kinds, vcpu 0 and non-zero counts", valid,
                "an entry is malformed");
    expect_true("entries add up to at most the totals", counted + o.overflow <= sum_totals(&o),
                "entries + overflow exceed the totals");
    expect("reset", op(pr, S, DMP_TRAP_PROFILE_RESET, 0, 0, 0, 0, NULL), 0);

    /* Allocation churn and the largest table. */
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        bad += op(pr, S, DMP_TRAP_PROFILE_DISABLE, 0, 0, 0, 0, NULL) != 0;
        bad += op(pr, S, DMP_TRAP_PROFILE_ENABLE, (i & 1) ? 64 : 16384, 0, 0, 0, NULL) != 0;
    }
    expect("20 disable/enable cycles (64 and 16384 slots)", bad ? -EIO : 0, 0);
    expect("disable", op(pr, S, DMP_TRAP_PROFILE_DISABLE, 0, 0, 0, 0, NULL), 0);
    expect("disable again", op(pr, S, DMP_TRAP_PROFILE_DISABLE, 0, 0, 0, 0, NULL), -ENOENT);
    expect("read after disable", op(pr, S, DMP_TRAP_PROFILE_READ, 0, 0, 0, 0, NULL), -ENOENT);
    if (leave)
        expect("enable, left on for domain destruction",
               op(pr, S, DMP_TRAP_PROFILE_ENABLE, 16384, 0, 0, 0, NULL), 0);

    dmp_profiler_close(pr);
    printf("profop: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
