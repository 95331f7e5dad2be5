/* Data layout of a kernel, read from the BTF type information in its image file.
 *
 * A kernel built with CONFIG_DEBUG_INFO_BTF (Debian's is) carries a .BTF section describing
 * every struct and every per-CPU variable. That answers layout questions (where a member sits
 * inside a struct, where a per-CPU variable sits inside the per-CPU area) for the exact kernel
 * at hand, with no debug package and no System.map (Debian ships a placeholder one).
 *
 * The BTF is parsed by libbpf. Everything it reports is checked again here before use (type
 * ids resolve, member offsets are whole bytes, variables lie inside their section), and a
 * malformed .BTF is an error naming what libbpf objected to, never a crash.
 */
#ifndef DMP_BTF_LAYOUT_H
#define DMP_BTF_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/kimage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct btf;   /* libbpf's parsed BTF; users of this header need not include <bpf/btf.h> */

/* Parse the image's .BTF section (file images only). -ENOENT: a live image, or no .BTF section
 * (kernel built without CONFIG_DEBUG_INFO_BTF); -EINVAL: libbpf refused the data (its message
 * is in err). Free with dmp_btf_free. The BTF is a copy: it outlives the image. */
int  dmp_btf_load(struct dmp_kimage *img, struct btf **out, char *err, size_t errlen);
void dmp_btf_free(struct btf *);

/* Byte offset and size of a member reached through nested structs/unions, e.g. struct
 * "paravirt_patch_template", path "mmu.lazy_mode.enter". Typedefs and qualifiers on the way
 * are looked through. -ENOENT names the missing struct or member; -EINVAL: a step that is not
 * a struct/union, a bitfield, or an offset that is not a whole byte. */
int  dmp_btf_member(const struct btf *, const char *struct_name, const char *path,
                    uint64_t *offset, uint64_t *size, char *err, size_t errlen);

/* A per-CPU variable: its offset inside every CPU's per-CPU area (== its link-time address in
 * the .data..percpu template, linked at 0 on x86-64) and its size in bytes. */
struct dmp_percpu_var {
    uint64_t offset;
    uint64_t size;
};

/* Look a per-CPU variable up by name in BTF's DATASEC '.data..percpu'. -ENOENT: no such
 * variable (or no such DATASEC); -ENOTUNIQ: two static variables of that name at different
 * places; -EINVAL: an entry outside the section. */
int  dmp_btf_percpu_lookup(const struct btf *, const char *name, struct dmp_percpu_var *out,
                           char *err, size_t errlen);

/* The same from an image: loads the BTF, looks up, frees. For several names, load once and
 * call dmp_btf_percpu_lookup instead (parsing the BTF of a real kernel takes tens of ms). */
int  dmp_btf_percpu_var(struct dmp_kimage *img, const char *name, struct dmp_percpu_var *out,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
