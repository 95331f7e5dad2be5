/* segtool: exercise a dmpseg segment from inside a guest (static; see docs/SEGMENTS.md).
 *
 *   segtool wait PATH SECS               wait for a device node to appear
 *   segtool gone PATH SECS               wait for it to disappear
 *   segtool fill PATH SEED [MiB]         write a pattern through mmap(MAP_SHARED)
 *   segtool check PATH SEED [MiB]        verify that pattern through a read-only mmap
 *   segtool zero PATH                    verify the segment is all zero (read())
 *   segtool rofail PATH                  every write path must be refused
 *   segtool blkfill DEV SEED [MiB]       pattern through the block device (O_DIRECT)
 *   segtool blkcheck DEV SEED [MiB]      verify it through the block device
 *   segtool hold PATH SEED SECS          map, verify, keep reading until SIGBUS
 *   segtool hungry MiB [PATH]            a job needing MiB of working memory: anonymous
 *                                        memory, or the segment's mmap when PATH is given
 *   segtool bench PATH DEV DISK MiB      throughput of mmap, block device and a disk
 *
 * Output lines start with "@@SEG" so dom0 can find them in the console log.
 * Exit status: 0 ok, 1 check failed, 2 usage or system error. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmpcommon/clock.h"

#define MIB (1024ULL * 1024)
#define MAX_WAIT_S 600

static uint64_t pattern(uint64_t seed, uint64_t idx)
{
    /* splitmix64 of (seed, word index): every word differs, so shifted or stale data shows. */
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + idx + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "segtool: %s %s: %s\n", what, path, strerror(errno));
    return 2;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        fprintf(stderr, "segtool: '%s' is not a number\n", s);
        return -1;
    }
    *v = x;
    return 0;
}

/* Size of a character or block device: the segment's sysfs size or a seek to the end. */
static int dev_size(int fd, uint64_t *size)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        return -1;
    *size = (uint64_t)end;
    return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

static int map_dev(const char *path, int prot, uint64_t *len, uint8_t **p, int *fdp)
{
    int fd = open(path, (prot & PROT_WRITE) ? O_RDWR : O_RDONLY);
    if (fd < 0)
        return fail("open", path);
    uint64_t size;
    if (dev_size(fd, &size) < 0) {
        close(fd);
        return fail("size of", path);
    }
    if (*len == 0 || *len > size)
        *len = size;
    void *m = mmap(NULL, *len, prot, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return fail("mmap", path);
    }
    *p = m;
    *fdp = fd;
    return 0;
}

static int wait_node(const char *path, uint64_t secs, int want)
{
    for (uint64_t i = 0; i < secs * 10 && i < MAX_WAIT_S * 10; i++) {
        if ((access(path, F_OK) == 0) == want) {
            printf("@@SEG %s %s\n", want ? "present" : "gone", path);
            return 0;
        }
        usleep(100000);
    }
    printf("@@SEG timeout waiting for %s to %s\n", path, want ? "appear" : "disappear");
    return 1;
}

static int fill_or_check(const char *path, uint64_t seed, uint64_t mib, int fill)
{
    uint64_t len = mib * MIB;
    uint8_t *p;
    int fd;
    if (map_dev(path, fill ? PROT_READ | PROT_WRITE : PROT_READ, &len, &p, &fd))
        return 2;
    uint64_t *w = (uint64_t *)p, n = len / 8, bad = 0, first = UINT64_MAX;
    double t0 = dmp_mono_s();
    for (uint64_t i = 0; i < n; i++) {
        if (fill) {
            w[i] = pattern(seed, i);
        } else if (w[i] != pattern(seed, i)) {
            if (!bad++)
                first = i;
            if (bad <= 8)
                printf("@@SEG bad word at byte %llu: 0x%016llx, want 0x%016llx\n", (unsigned long long)i * 8,
                       (unsigned long long)w[i], (unsigned long long)pattern(seed, i));
        }
    }
    if (fill && msync(p, len, MS_SYNC) < 0)
        return fail("msync", path);
    double dt = dmp_mono_s() - t0;
    if (bad)
        printf("@@SEG check %s seed %llu: %llu bad words of %llu, first at byte %llu (0x%016llx)\n",
               path, (unsigned long long)seed, (unsigned long long)bad, (unsigned long long)n,
               (unsigned long long)first * 8, (unsigned long long)w[first]);
    else
        printf("@@SEG %s %s seed %llu %llu bytes ok %.3f s\n", fill ? "fill" : "check", path,
               (unsigned long long)seed, (unsigned long long)len, dt);
    munmap(p, len);
    close(fd);
    return bad ? 1 : 0;
}

static int check_zero(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("open", path);
    static uint8_t buf[65536];
    uint64_t off = 0, nonzero = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0)
            return fail("read", path);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            nonzero += buf[i] != 0;
        off += (uint64_t)r;
    }
    close(fd);
    printf("@@SEG zero %s: %llu bytes, %llu non-zero\n", path, (unsigned long long)off,
           (unsigned long long)nonzero);
    return nonzero || off == 0 ? 1 : 0;
}

/* A read-only segment must refuse every way of writing: O_RDWR, PROT_WRITE, mprotect, write. */
static int ro_refuses(const char *path)
{
    int refused = 0, tried = 0;
    int fd = open(path, O_RDWR);
    tried++;
    if (fd < 0) {
        printf("@@SEG ro open O_RDWR refused: %s\n", strerror(errno));
        refused++;
    } else {
        close(fd);
        printf("@@SEG ro open O_RDWR ALLOWED\n");
    }
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return fail("open", path);
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    tried++;
    if (m == MAP_FAILED) {
        printf("@@SEG ro mmap PROT_WRITE refused: %s\n", strerror(errno));
        refused++;
    } else {
        printf("@@SEG ro mmap PROT_WRITE ALLOWED\n");
        munmap(m, 4096);
    }
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return fail("mmap PROT_READ", path);
    tried++;
    if (mprotect(m, 4096, PROT_READ | PROT_WRITE) < 0) {
        printf("@@SEG ro mprotect PROT_WRITE refused: %s\n", strerror(errno));
        refused++;
    } else {
        printf("@@SEG ro mprotect PROT_WRITE ALLOWED\n");
    }
    printf("@@SEG ro first byte readable: %u\n", *(volatile uint8_t *)m);
    munmap(m, 4096);
    tried++;
    if (write(fd, "x", 1) < 0) {
        printf("@@SEG ro write() refused: %s\n", strerror(errno));
        refused++;
    } else {
        printf("@@SEG ro write() ALLOWED\n");
    }
    close(fd);
    printf("@@SEG rofail %s: %d of %d write paths refused\n", path, refused, tried);
    return refused == tried ? 0 : 1;
}

static int blk_rw(const char *dev, uint64_t seed, uint64_t mib, int fill)
{
    int fd = open(dev, (fill ? O_WRONLY : O_RDONLY) | O_DIRECT);
    if (fd < 0)
        return fail("open", dev);
    uint64_t size, len = mib * MIB;
    if (dev_size(fd, &size) < 0)
        return fail("size of", dev);
    if (!len || len > size)
        len = size;
    uint64_t chunk = 1 * MIB, bad = 0;
    void *buf;
    if (posix_memalign(&buf, 4096, chunk))
        return fail("allocate", "buffer");
    uint64_t *w = buf;
    double t0 = dmp_mono_s();
    for (uint64_t off = 0; off < len; off += chunk) {
        uint64_t n = len - off < chunk ? len - off : chunk;
        if (fill) {
            for (uint64_t i = 0; i < n / 8; i++)
                w[i] = pattern(seed, off / 8 + i);
            if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
                return fail("write", dev);
        } else {
            if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
                return fail("read", dev);
            for (uint64_t i = 0; i < n / 8; i++)
                bad += w[i] != pattern(seed, off / 8 + i);
        }
    }
    if (fill && fsync(fd) < 0)
        return fail("fsync", dev);
    printf("@@SEG %s %s seed %llu %llu bytes: %llu bad words %.3f s\n", fill ? "blkfill" : "blkcheck",
           dev, (unsigned long long)seed, (unsigned long long)len, (unsigned long long)bad,
           dmp_mono_s() - t0);
    free(buf);
    close(fd);
    return bad ? 1 : 0;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
    (void)sig;
    siglongjmp(bus_jmp, 1);
}

/* Keep a mapping in use while dom0 detaches: the driver must revoke it with SIGBUS. */
static int hold(const char *path, uint64_t seed, uint64_t secs)
{
    uint64_t len = 0;
    uint8_t *p;
    int fd;
    if (map_dev(path, PROT_READ, &len, &p, &fd))
        return 2;
    volatile uint64_t *w = (volatile uint64_t *)p;
    uint64_t n = len / 8, bad = 0, reads = 0;
    struct sigaction sa = { .sa_handler = on_sigbus };
    sigaction(SIGBUS, &sa, NULL);
    if (sigsetjmp(bus_jmp, 1)) {
        printf("@@SEG hold SIGBUS after %llu verified passes, %llu bad words\n",
               (unsigned long long)reads, (unsigned long long)bad);
        return bad ? 1 : 0;
    }
    /* One full pass before announcing, so the data is known good while dom0 still owns it. */
    for (uint64_t i = 0; i < n; i += 512)
        bad += w[i] != pattern(seed, i);
    reads++;
    printf("@@SEG holding %s (%llu bytes)\n", path, (unsigned long long)len);
    fflush(stdout);
    double end = dmp_mono_s() + (double)(secs < MAX_WAIT_S ? secs : MAX_WAIT_S);
    while (dmp_mono_s() < end) {
        for (uint64_t i = 0; i < n; i += 512)
            bad += w[i] != pattern(seed, i);
        reads++;
        usleep(50000);
    }
    printf("@@SEG hold ended without SIGBUS after %llu passes, %llu bad words\n",
           (unsigned long long)reads, (unsigned long long)bad);
    return bad ? 1 : 3;
}

/* The "memory-hungry job": fill a working buffer, then verify it twice. */
static int hungry(uint64_t mib, const char *path)
{
    uint64_t len = mib * MIB;
    uint8_t *p;
    int fd = -1;
    if (path) {
        uint64_t l = len;
        if (map_dev(path, PROT_READ | PROT_WRITE, &l, &p, &fd))
            return 2;
        if (l < len) {
            fprintf(stderr, "segtool: %s holds %llu bytes, job needs %llu\n", path,
                    (unsigned long long)l, (unsigned long long)len);
            return 2;
        }
    } else {
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return fail("allocate", "working buffer");
    }
    printf("@@SEG hungry start %llu MiB in %s\n", (unsigned long long)mib, path ? path : "anonymous memory");
    fflush(stdout);
    uint64_t *w = (uint64_t *)p, n = len / 8, bad = 0;
    double t0 = dmp_mono_s();
    for (uint64_t i = 0; i < n; i++)
        w[i] = pattern(7, i);
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < n; i++)
            bad += w[i] != pattern(7, i);
    printf("@@SEG hungry done %llu MiB %s %.2f s bad %llu\n", (unsigned long long)mib,
           path ? "segment" : "anonymous", dmp_mono_s() - t0, (unsigned long long)bad);
    return bad ? 1 : 0;
}

static double mibs(uint64_t bytes, double s)
{
    return s > 0 ? (double)bytes / MIB / s : 0;
}

static int bench_blk(const char *label, const char *dev, uint64_t len)
{
    int fd = open(dev, O_RDWR | O_DIRECT);
    if (fd < 0)
        return fail("open", dev);
    uint64_t chunk = MIB;
    void *buf;
    if (posix_memalign(&buf, 4096, chunk))
        return fail("allocate", "buffer");
    memset(buf, 0x5a, chunk);
    double t0 = dmp_mono_s();
    for (uint64_t off = 0; off < len; off += chunk)
        if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
            return fail("write", dev);
    if (fsync(fd) < 0)
        return fail("fsync", dev);
    double tw = dmp_mono_s() - t0;
    t0 = dmp_mono_s();
    for (uint64_t off = 0; off < len; off += chunk)
        if (pread(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
            return fail("read", dev);
    double tr = dmp_mono_s() - t0;
    printf("@@SEG-BENCH {\"path\":\"%s\",\"dev\":\"%s\",\"bytes\":%llu,\"write_mib_s\":%.1f,\"read_mib_s\":%.1f}\n",
           label, dev, (unsigned long long)len, mibs(len, tw), mibs(len, tr));
    free(buf);
    close(fd);
    return 0;
}

static int bench(const char *path, const char *dev, const char *disk, uint64_t mib)
{
    uint64_t len = mib * MIB;
    uint8_t *p;
    int fd;
    if (map_dev(path, PROT_READ | PROT_WRITE, &len, &p, &fd))
        return 2;
    /* Touch once so the timed passes measure access, not the first-fault cost. */
    memset(p, 0, len);
    double t0 = dmp_mono_s();
    memset(p, 0x5a, len);
    double tw = dmp_mono_s() - t0;
    volatile uint64_t sum = 0;
    t0 = dmp_mono_s();
    for (uint64_t i = 0; i < len / 8; i++)
        sum += ((uint64_t *)p)[i];
    double tr = dmp_mono_s() - t0;
    printf("@@SEG-BENCH {\"path\":\"mmap\",\"dev\":\"%s\",\"bytes\":%llu,\"write_mib_s\":%.1f,\"read_mib_s\":%.1f}\n",
           path, (unsigned long long)len, mibs(len, tw), mibs(len, tr));
    munmap(p, len);
    close(fd);
    int rc = bench_blk("segment-block", dev, len);
    if (rc == 0 && strcmp(disk, "-") != 0)
        rc = bench_blk("disk-block", disk, len);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: segtool wait|gone PATH SECS | fill|check PATH SEED [MiB] | zero PATH |\n"
                    "       rofail PATH | blkfill|blkcheck DEV SEED [MiB] | hold PATH SEED SECS |\n"
                    "       hungry MiB [PATH] | bench PATH DEV DISK|- MiB\n");
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return usage();
    const char *cmd = argv[1], *path = argv[2];
    uint64_t a = 0, b = 0;
    if ((!strcmp(cmd, "wait") || !strcmp(cmd, "gone")) && argc == 4) {
        if (parse_u64(argv[3], &a))
            return 2;
        return wait_node(path, a, !strcmp(cmd, "wait"));
    }
    if ((!strcmp(cmd, "fill") || !strcmp(cmd, "check") || !strcmp(cmd, "blkfill") ||
         !strcmp(cmd, "blkcheck")) && (argc == 4 || argc == 5)) {
        if (parse_u64(argv[3], &a) || (argc == 5 && parse_u64(argv[4], &b)))
            return 2;
        if (cmd[0] == 'b')
            return blk_rw(path, a, b, !strcmp(cmd, "blkfill"));
        return fill_or_check(path, a, b, !strcmp(cmd, "fill"));
    }
    if (!strcmp(cmd, "zero") && argc == 3)
        return check_zero(path);
    if (!strcmp(cmd, "rofail") && argc == 3)
        return ro_refuses(path);
    if (!strcmp(cmd, "hold") && argc == 5) {
        if (parse_u64(argv[3], &a) || parse_u64(argv[4], &b))
            return 2;
        return hold(path, a, b);
    }
    if (!strcmp(cmd, "hungry") && (argc == 3 || argc == 4)) {
        if (parse_u64(argv[2], &a))
            return 2;
        return hungry(a, argc == 4 ? argv[3] : NULL);
    }
    if (!strcmp(cmd, "bench") && argc == 6) {
        if (parse_u64(argv[5], &a))
            return 2;
        return bench(path, argv[3], argv[4], a);
    }
    return usage();
}
