/* ELF64 x86-64 vmlinux: map PT_LOAD segments by virtual address.
 * Every field read from the file is checked against the buffer before use. */
#include <errno.h>
#include <string.h>

#include "kimage_internal.h"

#define ELF_EHDR_SIZE 64
#define ELF_PHDR_SIZE 56
#define EM_X86_64_ 62
#define EM_386_ 3
#define PT_LOAD_ 1
#define PF_X_ 1
#define PF_W_ 2
#define PF_R_ 4

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Segments linked below the kernel half (x86-64 links .data..percpu at virtual address 0 as
 * a template for the per-CPU areas) are not part of the kernel's virtual mapping: mapping
 * them would make low, user-space addresses look like kernel bytes. */
/* The whole x86-64 kernel image must fit in 1 GiB (KERNEL_IMAGE_SIZE), so must a segment. */
#define KIMAGE_MAX_SEGMENT ((uint64_t)1 << 30)

#define KERNEL_HALF 0xffff800000000000ull

int kimage_elf_parse(struct kimage_file *f, char *err, size_t errlen)
{
    const uint8_t *b = f->buf;
    size_t len = f->len;
    if (len < 5 || memcmp(b, "\177ELF", 4) != 0)
        return kimage_err(err, errlen, -EINVAL, "not an ELF file");
    if (b[4] == 1) {
        if (len >= 20 && rd16(b + 18) == EM_386_)
            return kimage_err(err, errlen, -ENOTSUP, "32-bit kernel not supported (ELF32 i386)");
        return kimage_err(err, errlen, -ENOTSUP, "32-bit kernel not supported (ELF32)");
    }
    if (b[4] != 2)
        return kimage_err(err, errlen, -EINVAL, "ELF: bad class %u", b[4]);
    if (len < ELF_EHDR_SIZE)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated ELF header: %zu bytes, need %d", len, ELF_EHDR_SIZE);
    if (b[5] != 1)
        return kimage_err(err, errlen, -ENOTSUP, "big-endian ELF not supported");
    uint16_t machine = rd16(b + 18);
    if (machine != EM_X86_64_)
        return kimage_err(err, errlen, -ENOTSUP,
                          "not an x86-64 kernel (ELF e_machine %u)", machine);
    uint64_t phoff = rd64(b + 32);
    uint16_t phentsize = rd16(b + 54), phnum = rd16(b + 56);
    if (phnum == 0)
        return kimage_err(err, errlen, -EINVAL, "ELF has no program headers");
    if (phentsize < ELF_PHDR_SIZE)
        return kimage_err(err, errlen, -EINVAL, "ELF: program header size %u < %d",
                          phentsize, ELF_PHDR_SIZE);
    if (phoff > len || (uint64_t)phnum * phentsize > len - phoff)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated ELF: program headers extend past end of file");
    f->nsegs = 0;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = b + phoff + (uint64_t)i * phentsize;
        if (rd32(ph) != PT_LOAD_)
            continue;
        uint32_t pflags = rd32(ph + 4);
        uint64_t off = rd64(ph + 8), va = rd64(ph + 16);
        uint64_t filesz = rd64(ph + 32), memsz = rd64(ph + 40);
        if (memsz == 0 || va < KERNEL_HALF)
            continue;
        if (filesz > memsz)
            return kimage_err(err, errlen, -EINVAL,
                              "ELF: PT_LOAD %u has p_filesz > p_memsz", i);
        if (off > len || filesz > len - off)
            return kimage_err(err, errlen, -EINVAL,
                              "truncated ELF: PT_LOAD %u extends past end of file", i);
        if (memsz > KIMAGE_MAX_SEGMENT)
            return kimage_err(err, errlen, -EINVAL,
                              "ELF: PT_LOAD %u is %llu MiB, too large for a kernel", i,
                              (unsigned long long)(memsz >> 20));
        if (va + memsz < va)
            return kimage_err(err, errlen, -EINVAL,
                              "ELF: PT_LOAD %u wraps the address space", i);
        if (f->nsegs == KIMAGE_MAX_SEGMENTS)
            return kimage_err(err, errlen, -EINVAL, "ELF: more than %d PT_LOAD segments",
                              KIMAGE_MAX_SEGMENTS);
        for (size_t j = 0; j < f->nsegs; j++)
            if (va < f->segs[j].va + f->segs[j].memsz && f->segs[j].va < va + memsz)
                return kimage_err(err, errlen, -EINVAL,
                                  "ELF: PT_LOAD %u overlaps another segment", i);
        f->segs[f->nsegs++] = (struct kimage_seg){
            .va = va, .memsz = memsz, .off = off, .filesz = filesz,
            .flags = ((pflags & PF_R_) ? DMP_KREGION_R : 0) |
                     ((pflags & PF_W_) ? DMP_KREGION_W : 0) |
                     ((pflags & PF_X_) ? DMP_KREGION_X : 0),
        };
    }
    if (f->nsegs == 0)
        return kimage_err(err, errlen, -EINVAL,
                          "ELF has no loadable kernel segment (no PT_LOAD in the kernel half)");
    return 0;
}

#define ELF_SHDR_SIZE 64
#define SHT_NOBITS_ 8
#define SHN_XINDEX_ 0xffffu

int kimage_elf_section(const struct kimage_file *f, const char *name, struct dmp_ksection *out,
                       char *err, size_t errlen)
{
    const uint8_t *b = f->buf;
    size_t len = f->len;   /* >= ELF_EHDR_SIZE: kimage_elf_parse accepted this buffer */
    uint64_t shoff = rd64(b + 40);
    uint16_t shentsize = rd16(b + 58);
    uint64_t shnum = rd16(b + 60);
    uint32_t shstrndx = rd16(b + 62);
    if (shoff == 0)
        return kimage_err(err, errlen, -ENOENT, "no section %s: ELF has no section headers",
                          name);
    if (shentsize < ELF_SHDR_SIZE)
        return kimage_err(err, errlen, -EINVAL, "ELF: section header size %u < %d",
                          shentsize, ELF_SHDR_SIZE);
    if (shoff > len || len - shoff < shentsize)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated ELF: section headers extend past end of file");
    /* Extended numbering (more than 0xff00 sections): the real counts live in section 0. */
    const uint8_t *sh0 = b + shoff;
    if (shnum == 0)
        shnum = rd64(sh0 + 32);
    if (shstrndx == SHN_XINDEX_)
        shstrndx = rd32(sh0 + 40);
    if (shnum > (len - shoff) / shentsize)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated ELF: %llu section headers extend past end of file",
                          (unsigned long long)shnum);
    if (shstrndx == 0 || shstrndx >= shnum)
        return kimage_err(err, errlen, -EINVAL, "ELF: bad section name table index %u",
                          shstrndx);
    const uint8_t *strsh = sh0 + (uint64_t)shstrndx * shentsize;
    uint64_t stroff = rd64(strsh + 24), strsz = rd64(strsh + 32);
    if (rd32(strsh + 4) == SHT_NOBITS_ || stroff > len || strsz > len - stroff)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated ELF: section name table extends past end of file");
    const uint8_t *strtab = b + stroff;
    size_t nlen = strlen(name);
    for (uint64_t i = 1; i < shnum; i++) {
        const uint8_t *sh = sh0 + i * shentsize;
        uint32_t noff = rd32(sh);
        if (noff >= strsz)
            return kimage_err(err, errlen, -EINVAL,
                              "ELF: section %llu name offset %u outside the name table",
                              (unsigned long long)i, noff);
        /* Compare name plus its NUL, all inside the table: an unterminated last name in the
         * table cannot match and is never read past. */
        if (strsz - noff <= nlen || memcmp(strtab + noff, name, nlen + 1) != 0)
            continue;
        if (rd32(sh + 4) == SHT_NOBITS_)
            return kimage_err(err, errlen, -ENOENT,
                              "no section %s contents: it is SHT_NOBITS (no file bytes)", name);
        uint64_t off = rd64(sh + 24), size = rd64(sh + 32);
        if (off > len || size > len - off)
            return kimage_err(err, errlen, -EINVAL,
                              "truncated ELF: section %s extends past end of file", name);
        out->data = b + off;
        out->size = size;
        out->va = rd64(sh + 16);
        return 0;
    }
    return kimage_err(err, errlen, -ENOENT, "no section %s in the ELF image", name);
}
