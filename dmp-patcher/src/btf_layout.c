/* Struct member offsets and per-CPU variable offsets from a kernel image's .BTF (libbpf). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "dmppatcher/btf_layout.h"
#include "dmpcommon/util.h"

/* libbpf reports why it refused a BTF only through its print callback, which by default
 * writes to stderr. We route it into the caller's err instead, so a malformed image gives one
 * error message in the project's usual place. The callback is process-global in libbpf: we
 * swap it only around btf__new and restore it, which is enough for our single-threaded tools. */
static _Thread_local char libbpf_msg[256];

__attribute__((format(printf, 2, 0)))
static int capture_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    /* libbpf explains a refused BTF at debug level; keep the first message, later ones
     * tend to be consequences of it. Only btf__new runs under this callback. */
    if (!libbpf_msg[0]) {
        vsnprintf(libbpf_msg, sizeof(libbpf_msg), fmt, ap);
        size_t n = strlen(libbpf_msg);
        while (n && (libbpf_msg[n - 1] == '\n' || libbpf_msg[n - 1] == ' '))
            libbpf_msg[--n] = 0;
    }
    return 0;
}

int dmp_btf_load(struct dmp_kimage *img, struct btf **out, char *err, size_t errlen)
{
    if (!img || !out)
        return -EINVAL;
    *out = NULL;
    if (!dmp_kimage_has_sections(img))
        return dmp_errf(err, errlen, -ENOENT,
                        "no .BTF section: a %s image keeps none; open the kernel image file",
                        dmp_kimage_format(img));
    struct dmp_ksection sec;
    char inner[256] = "";
    int r = dmp_kimage_section(img, ".BTF", &sec, inner, sizeof(inner));
    if (r == -ENOENT)
        return dmp_errf(err, errlen, -ENOENT,
                        "no .BTF section: kernel built without CONFIG_DEBUG_INFO_BTF");
    if (r < 0)
        return dmp_errf(err, errlen, r, "%s", inner);
    if (sec.size == 0 || sec.size > UINT32_MAX)
        return dmp_errf(err, errlen, -EINVAL, "malformed .BTF: size %zu", sec.size);

    libbpf_msg[0] = 0;
    libbpf_print_fn_t old = libbpf_set_print(capture_libbpf);
    errno = 0;
    struct btf *btf = btf__new(sec.data, (uint32_t)sec.size);
    int e = errno;
    libbpf_set_print(old);
    if (!btf) {
        /* libbpf >= 1.0 returns NULL and sets errno; its message says what was wrong. */
        return dmp_errf(err, errlen, -EINVAL, "malformed .BTF (%zu bytes): %s", sec.size,
                        libbpf_msg[0] ? libbpf_msg : strerror(e ? e : EINVAL));
    }
    *out = btf;
    return 0;
}

void dmp_btf_free(struct btf *btf)
{
    btf__free(btf);
}

/* Follow typedefs and qualifiers to the type that has a layout. Bounded, because BTF from a
 * file may contain a reference cycle that libbpf 1.1 does not reject at parse time. */
static const struct btf_type *resolve(const struct btf *btf, uint32_t id, uint32_t *out_id)
{
    for (int hops = 0; hops < 32; hops++) {
        const struct btf_type *t = btf__type_by_id(btf, id);
        if (!t)
            return NULL;
        switch (btf_kind(t)) {
        case BTF_KIND_TYPEDEF:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_CONST:
        case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG:
            id = t->type;
            continue;
        default:
            if (out_id)
                *out_id = id;
            return t;
        }
    }
    return NULL;
}

static const char *type_name(const struct btf *btf, const struct btf_type *t)
{
    const char *n = btf__name_by_offset(btf, t->name_off);
    return n && n[0] ? n : "(anonymous)";
}

int dmp_btf_member(const struct btf *btf, const char *struct_name, const char *path,
                   uint64_t *offset, uint64_t *size, char *err, size_t errlen)
{
    if (!btf || !struct_name || !path || !offset || !size)
        return -EINVAL;
    int32_t sid = btf__find_by_name_kind(btf, struct_name, BTF_KIND_STRUCT);
    if (sid < 0)
        return dmp_errf(err, errlen, -ENOENT, "BTF has no struct %s", struct_name);
    uint32_t id = (uint32_t)sid;
    const struct btf_type *t = btf__type_by_id(btf, id);
    if (!t)
        return dmp_errf(err, errlen, -EINVAL, "malformed BTF: struct %s has a bad type id",
                        struct_name);
    uint64_t off = 0;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0)
            return dmp_errf(err, errlen, -EINVAL, "bad member path '%s'", path);
        /* Where we are, for messages: "paravirt_patch_template.mmu.lazy_mode". */
        int at = p > path ? (int)(p - path) - 1 : 0;
        if (!btf_is_composite(t))
            return dmp_errf(err, errlen, -EINVAL, "%s.%.*s: not a struct or union", struct_name,
                            at, path);
        const struct btf_member *m = btf_members(t);
        uint16_t vlen = btf_vlen(t), i;
        /* Anonymous members are not searched: the kernel structs we read name every step,
         * and a path through an unnamed member could not be written down anyway. */
        for (i = 0; i < vlen; i++) {
            const char *mn = btf__name_by_offset(btf, m[i].name_off);
            if (mn && strlen(mn) == n && memcmp(mn, p, n) == 0)
                break;
        }
        if (i == vlen) {
            if (at > 0)
                return dmp_errf(err, errlen, -ENOENT,
                                "BTF: %s %s (%s.%.*s) has no member '%.*s'",
                                btf_is_union(t) ? "union" : "struct", type_name(btf, t),
                                struct_name, at, path, (int)n, p);
            return dmp_errf(err, errlen, -ENOENT, "BTF: struct %s has no member '%.*s'",
                            struct_name, (int)n, p);
        }
        if (btf_member_bitfield_size(t, i) != 0)
            return dmp_errf(err, errlen, -EINVAL, "%s.%.*s is a bitfield", struct_name,
                            (int)(p + n - path), path);
        uint32_t bits = btf_member_bit_offset(t, i);
        if (bits % 8)
            return dmp_errf(err, errlen, -EINVAL, "%s.%.*s: bit offset %u is not a whole byte",
                            struct_name, (int)(p + n - path), path, bits);
        off += bits / 8;
        t = resolve(btf, m[i].type, &id);
        if (!t)
            return dmp_errf(err, errlen, -EINVAL,
                            "malformed BTF: %s.%.*s has a bad or cyclic type", struct_name,
                            (int)(p + n - path), path);
        if (!dot)
            break;
        p = dot + 1;
    }
    int64_t sz = btf__resolve_size(btf, id);
    if (sz < 0)
        return dmp_errf(err, errlen, -EINVAL, "malformed BTF: %s.%s has no size", struct_name,
                        path);
    *offset = off;
    *size = (uint64_t)sz;
    return 0;
}

int dmp_btf_percpu_lookup(const struct btf *btf, const char *name, struct dmp_percpu_var *out,
                          char *err, size_t errlen)
{
    if (!btf || !name || !out)
        return -EINVAL;
    static const char secname[] = ".data..percpu";
    int32_t sid = btf__find_by_name_kind(btf, secname, BTF_KIND_DATASEC);
    const struct btf_type *sec = sid < 0 ? NULL : btf__type_by_id(btf, (uint32_t)sid);
    if (!sec)
        return dmp_errf(err, errlen, -ENOENT, "BTF has no DATASEC '%s'", secname);
    const struct btf_var_secinfo *vi = btf_var_secinfos(sec);
    uint16_t vlen = btf_vlen(sec);
    struct dmp_percpu_var found = {0, 0};
    unsigned nfound = 0;
    for (uint16_t i = 0; i < vlen; i++) {
        const struct btf_type *v = btf__type_by_id(btf, vi[i].type);
        if (!v)
            return dmp_errf(err, errlen, -EINVAL,
                            "malformed BTF: DATASEC '%s' entry %u has a bad type id %u",
                            secname, i, vi[i].type);
        const char *vn = btf__name_by_offset(btf, v->name_off);
        if (!btf_is_var(v) || !vn || strcmp(vn, name) != 0)
            continue;
        if ((uint64_t)vi[i].offset + vi[i].size > sec->size)
            return dmp_errf(err, errlen, -EINVAL,
                            "malformed BTF: per-CPU variable %s [%u, +%u) is outside DATASEC "
                            "'%s' (%u bytes)", name, vi[i].offset, vi[i].size, secname,
                            sec->size);
        /* Static per-CPU variables of one name in different files are distinct objects:
         * picking one silently could hand back the wrong one. */
        if (nfound && (found.offset != vi[i].offset || found.size != vi[i].size))
            return dmp_errf(err, errlen, -ENOTUNIQ,
                            "per-CPU variable name %s is not unique (offsets %llu and %u)", name,
                            (unsigned long long)found.offset, vi[i].offset);
        found = (struct dmp_percpu_var){vi[i].offset, vi[i].size};
        nfound++;
    }
    if (!nfound)
        return dmp_errf(err, errlen, -ENOENT, "no per-CPU variable %s in BTF DATASEC '%s'",
                        name, secname);
    *out = found;
    return 0;
}

int dmp_btf_percpu_var(struct dmp_kimage *img, const char *name, struct dmp_percpu_var *out,
                       char *err, size_t errlen)
{
    struct btf *btf;
    int r = dmp_btf_load(img, &btf, err, errlen);
    if (r < 0)
        return r;
    r = dmp_btf_percpu_lookup(btf, name, out, err, errlen);
    dmp_btf_free(btf);
    return r;
}
