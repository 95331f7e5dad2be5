/* Lazy-MMU pv-op call sites from .parainstructions, with op indices taken from BTF. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/pvsites.h"
#include "dmpcommon/util.h"

/* struct paravirt_patch_site { u8 *instr; u8 type; u8 len; } on x86-64: 8 + 1 + 1, padded to
 * the pointer's alignment. Unchanged from Linux 5.x to 6.7. */
#define PV_SITE_SIZE 16
/* The shortest patchable pv-op call is a 5-byte direct call; the longest x86 instruction is
 * 15 bytes, and the kernel never records more than one instruction plus padding. */
#define PV_SITE_MIN_LEN 5
#define PV_SITE_MAX_LEN 16
#define PV_REGIONS_MAX 64

static const char *const op_names[DMP_PV_LAZY_NR] = {"enter", "leave", "flush"};
static const char *const op_paths[DMP_PV_LAZY_NR] = {
    "mmu.lazy_mode.enter", "mmu.lazy_mode.leave", "mmu.lazy_mode.flush"};

const char *dmp_pv_lazy_op_name(enum dmp_pv_lazy_op op)
{
    return (unsigned)op < DMP_PV_LAZY_NR ? op_names[op] : "?";
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The .parainstructions type of each op: its pointer index in struct paravirt_patch_template
 * (the kernel computes it as offsetof(...)/sizeof(void *)). */
static int lazy_types(struct dmp_kimage *img, unsigned type[DMP_PV_LAZY_NR], char *err,
                      size_t errlen)
{
    struct btf *btf;
    int r = dmp_btf_load(img, &btf, err, errlen);
    if (r < 0)
        return r;
    static const char tmpl[] = "paravirt_patch_template";
    for (int op = 0; op < DMP_PV_LAZY_NR && r == 0; op++) {
        uint64_t off, size;   /* r stays 0 until a member fails */
        r = dmp_btf_member(btf, tmpl, op_paths[op], &off, &size, err, errlen);
        if (r < 0)
            break;
        if (off % 8 || size != 8)
            r = dmp_errf(err, errlen, -EINVAL,
                         "%s.%s at byte %llu, %llu bytes: not an 8-byte pointer slot", tmpl,
                         op_paths[op], (unsigned long long)off, (unsigned long long)size);
        else if (off / 8 > UINT8_MAX)   /* the table's type field is a u8 */
            r = dmp_errf(err, errlen, -EINVAL,
                         "%s.%s at byte %llu: index %llu does not fit a u8 type", tmpl,
                         op_paths[op], (unsigned long long)off, (unsigned long long)(off / 8));
        else
            type[op] = (unsigned)(off / 8);
    }
    dmp_btf_free(btf);
    return r;
}

/* Is [va, va + len) file-backed, executable image? (The zero tail of a segment is not code.) */
static bool in_text(const struct dmp_kregion *rg, size_t n, uint64_t va, uint64_t len)
{
    for (size_t i = 0; i < n; i++)
        if ((rg[i].flags & DMP_KREGION_X) && va >= rg[i].start && va < rg[i].data_end &&
            len <= rg[i].data_end - va)
            return true;
    return false;
}

static int by_va(const void *a, const void *b)
{
    const struct dmp_pv_site *x = a, *y = b;
    return x->va < y->va ? -1 : x->va > y->va;
}

int dmp_pv_lazy_sites(struct dmp_kimage *img, struct dmp_pv_layout *out, char *err,
                      size_t errlen)
{
    if (!img || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    unsigned type[DMP_PV_LAZY_NR];
    int r = lazy_types(img, type, err, errlen);
    if (r < 0)
        return r;

    struct dmp_ksection sec;
    char inner[256] = "";
    r = dmp_kimage_section(img, ".parainstructions", &sec, inner, sizeof(inner));
    if (r == -ENOENT)
        return dmp_errf(err, errlen, -ENOENT,
                        "no .parainstructions section: kernel without CONFIG_PARAVIRT, or "
                        "Linux >= 6.8 (pv-op calls are patched as alternatives there)");
    if (r < 0)
        return dmp_errf(err, errlen, r, "%s", inner);
    if (sec.size % PV_SITE_SIZE)
        return dmp_errf(err, errlen, -EINVAL,
                        "malformed .parainstructions: size %zu is not a multiple of %d",
                        sec.size, PV_SITE_SIZE);

    struct dmp_kregion rg[PV_REGIONS_MAX];
    size_t nrg = dmp_kimage_regions(img, rg, PV_REGIONS_MAX);
    if (nrg > PV_REGIONS_MAX)
        nrg = PV_REGIONS_MAX;

    /* Two passes: count, then fill, so the array is allocated once at its final size. */
    size_t n = 0, nent = sec.size / PV_SITE_SIZE;
    struct dmp_pv_site *sites = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t k = 0;
        for (size_t i = 0; i < nent; i++) {
            const uint8_t *e = sec.data + i * PV_SITE_SIZE;
            uint64_t va = rd64(e);
            uint8_t t = e[8], len = e[9];
            int op;
            for (op = 0; op < DMP_PV_LAZY_NR && type[op] != t; op++)
                ;
            if (op == DMP_PV_LAZY_NR)
                continue;
            if (pass == 0) {
                if (len < PV_SITE_MIN_LEN || len > PV_SITE_MAX_LEN)
                    return dmp_errf(err, errlen, -EINVAL,
                                    "malformed .parainstructions: entry %zu (%s at 0x%llx) has "
                                    "length %u, not %d..%d", i, op_names[op],
                                    (unsigned long long)va, len, PV_SITE_MIN_LEN,
                                    PV_SITE_MAX_LEN);
                if (!in_text(rg, nrg, va, len))
                    return dmp_errf(err, errlen, -EINVAL,
                                    "malformed .parainstructions: entry %zu (%s at 0x%llx, %u "
                                    "bytes) is outside the image's executable text", i,
                                    op_names[op], (unsigned long long)va, len);
                n++;
                continue;
            }
            sites[k++] = (struct dmp_pv_site){.va = va, .len = len, .op = op};
            out->count[op]++;
        }
        if (pass == 0) {
            if (n == 0)
                break;
            sites = calloc(n, sizeof(*sites));
            if (!sites)
                return dmp_errf(err, errlen, -ENOMEM, "out of memory (%zu sites)", n);
        }
    }
    if (n)
        qsort(sites, n, sizeof(*sites), by_va);
    for (size_t i = 0; i + 1 < n; i++)
        if (sites[i + 1].va - sites[i].va < sites[i].len) {
            r = dmp_errf(err, errlen, -EINVAL,
                         "malformed .parainstructions: %s site 0x%llx (%u bytes) overlaps %s "
                         "site 0x%llx", op_names[sites[i].op], (unsigned long long)sites[i].va,
                         sites[i].len, op_names[sites[i + 1].op],
                         (unsigned long long)sites[i + 1].va);
            free(sites);
            memset(out, 0, sizeof(*out));
            return r;
        }
    memcpy(out->type, type, sizeof(type));
    out->sites = sites;
    out->nsites = n;
    return 0;
}

void dmp_pv_layout_free(struct dmp_pv_layout *l)
{
    if (!l)
        return;
    free(l->sites);
    memset(l, 0, sizeof(*l));
}
