/* Writes the fuzz seed corpus into a directory, at run time (no binaries in the repository):
 * a small synthetic kernel with real-layout kallsyms (as ELF and as gzip/xz bzImages), the
 * hand-made broken headers the unit tests use, and, when given the real bzImage, its first
 * 64 KiB both as-is and with payload_length cut to fit (so the xz decoder is reached).
 * Usage: kimage_seeds <outdir> [/boot/vmlinuz-...] */
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/ksyms_synth.h"

static int put(const char *dir, const char *name, const uint8_t *b, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

static uint8_t *xz(const uint8_t *in, size_t len, size_t *olen)
{
    size_t cap = lzma_stream_buffer_bound(len);
    uint8_t *o = malloc(cap);
    *olen = 0;
    if (o && lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, o, olen, cap) == LZMA_OK)
        return o;
    free(o);
    return NULL;
}

static struct synth_sym syms[SYNTH_NSYMS + 8];
static char names[SYNTH_NSYMS + 8][256];

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <outdir> [bzImage]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    size_t n, len, clen, blen;
    struct synth_layout lay;
    uint8_t *elf = synth_kernel(syms, names, &n, &len, &lay);
    if (!elf)
        return 1;
    rc |= put(dir, "synth-vmlinux", elf, len);
    uint8_t *c = synth_gzip(elf, len, &clen);
    uint8_t *bz = c ? synth_bzimage(c, clen, 0x020f, &blen) : NULL;
    rc |= bz ? put(dir, "synth-bzimage-gzip", bz, blen) : -1;
    free(bz);
    free(c);
    c = xz(elf, len, &clen);
    bz = c ? synth_bzimage(c, clen, 0x020f, &blen) : NULL;
    rc |= bz ? put(dir, "synth-bzimage-xz", bz, blen) : -1;
    free(bz);
    free(c);
    elf[4] = 1;
    rc |= put(dir, "elf32", elf, 128);
    free(elf);

    static const uint8_t lz4[] = { 0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4 };
    bz = synth_bzimage(lz4, sizeof(lz4), 0x020f, &blen);
    rc |= bz ? put(dir, "bzimage-lz4", bz, blen) : -1;
    free(bz);

    if (argc > 2) {
        FILE *f = fopen(argv[2], "rb");
        if (f) {
            static uint8_t head[65536];
            size_t h = fread(head, 1, sizeof(head), f);
            fclose(f);
            rc |= put(dir, "real-bzimage-head", head, h);
            if (h > 0x250) {
                /* Shrink payload_length to what is present: the decoder sees a cut stream. */
                unsigned setup = head[0x1f1] ? head[0x1f1] : 4;
                uint32_t poff;
                memcpy(&poff, head + 0x248, 4);
                size_t start = (size_t)(setup + 1) * 512 + poff;
                if (start < h) {
                    synth_put32(head + 0x24c, (uint32_t)(h - start));
                    rc |= put(dir, "real-bzimage-head-fitted", head, h);
                }
            }
        }
    }
    return rc ? 1 : 0;
}
