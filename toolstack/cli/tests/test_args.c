/* Table-driven option parsing (dmpcli/args.h), on the table of `dmpctl dmp patch`: what each
 * kind of row does, and every message and exit status of a bad command line, as the
 * hand-written parsers it replaced printed them. */
#include "dmpcli/args.h"
#include "dmpcli/cli.h"
#include "dmpcommon/test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
    const char *dom;
    bool json, dry;
    int mode, sites;
    const char *hot;
};

static void usage(FILE *f)
{
    fputs("usage: dmpctl dmp patch <dom> ...\n", f);
}

static const char *const modes[] = { "passthrough", "fastpath", "log", NULL };
static const char *const sites[] = { "all-mmu", "hot", NULL };
static const struct dmp_cli_arg rows[] = {
    { "--json", DMP_CLI_FLAG, offsetof(struct opts, json), NULL, NULL, false },
    { "--dry-run", DMP_CLI_FLAG, offsetof(struct opts, dry), NULL, NULL, false },
    { "--mode", DMP_CLI_CHOICE, offsetof(struct opts, mode), modes,
      "'passthrough', 'fastpath' or 'log'", false },
    { "--sites", DMP_CLI_CHOICE, offsetof(struct opts, sites), sites, "'all-mmu' or 'hot'",
      true },
    { "--hot-file", DMP_CLI_STRING, offsetof(struct opts, hot), NULL, NULL, false },
};
static const struct dmp_cli_args spec = { "dmp patch", usage, rows, sizeof(rows) / sizeof(rows[0]),
                                          offsetof(struct opts, dom) };

/* Parse a command line given as one string; what went to stdout and stderr comes back. */
static bool parse(const char *line, struct opts *o, int *code, char *out, char *err)
{
    char buf[256], *argv[16];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *t = strtok(buf, " "); t && argc < 15; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    memset(o, 0, sizeof(*o));
    char pout[] = "/tmp/test_args.out.XXXXXX", perr[] = "/tmp/test_args.err.XXXXXX";
    int fo = mkstemp(pout), fe = mkstemp(perr);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    bool go = dmp_cli_parse(&spec, argc, argv, o, code);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    ssize_t n = pread(fo, out, 511, 0);
    out[n > 0 ? n : 0] = '\0';
    n = pread(fe, err, 511, 0);
    err[n > 0 ? n : 0] = '\0';
    close(fo);
    close(fe);
    unlink(pout);
    unlink(perr);
    return go;
}

int main(void)
{
    struct opts o;
    int code;
    char out[512], err[512];
    const char *use = "usage: dmpctl dmp patch <dom> ...\n";

    CHECK(parse("patch web --json --mode fastpath --sites hot --hot-file /tmp/h", &o, &code,
                out, err));
    CHECK_STREQ(o.dom, "web");
    CHECK(o.json && !o.dry);
    CHECK_EQ_U64(o.mode, 1);
    CHECK_EQ_U64(o.sites, 1);
    CHECK_STREQ(o.hot, "/tmp/h");
    CHECK_STREQ(out, "");
    CHECK_STREQ(err, "");

    /* Options before the domain; the last --mode wins; --sites hot stays hot. */
    CHECK(parse("patch --dry-run --mode log --mode passthrough --sites hot --sites all-mmu 3",
                &o, &code, out, err));
    CHECK_STREQ(o.dom, "3");
    CHECK(o.dry);
    CHECK_EQ_U64(o.mode, 0);
    CHECK_EQ_U64(o.sites, 1);

    /* Help anywhere: the usage on stdout, exit 0, nothing parsed. */
    CHECK(!parse("patch web --bogus --help", &o, &code, out, err));
    CHECK_EQ_U64(code, DMP_EXIT_OK);
    CHECK_STREQ(out, use);
    CHECK_STREQ(err, "");

    /* A value not among the choices: the message only. */
    CHECK(!parse("patch web --mode fast", &o, &code, out, err));
    CHECK_EQ_U64(code, DMP_EXIT_USAGE);
    CHECK_STREQ(err, "dmpctl dmp patch: --mode takes 'passthrough', 'fastpath' or 'log', not "
                     "'fast'\n");
    CHECK(!parse("patch web --sites some", &o, &code, out, err));
    CHECK_STREQ(err, "dmpctl dmp patch: --sites takes 'all-mmu' or 'hot', not 'some'\n");

    /* Unknown options, a second domain, a value option last: usage and the argument. */
    static const struct { const char *line, *arg; } unexpected[] = {
        { "patch web --force", "--force" },
        { "patch web other", "other" },
        { "patch web --hot-file", "--hot-file" },
        { "patch web --mode", "--mode" },
        { "patch -", "-" },
    };
    for (size_t i = 0; i < sizeof(unexpected) / sizeof(unexpected[0]); i++) {
        char want[256];
        CHECK(!parse(unexpected[i].line, &o, &code, out, err));
        CHECK_EQ_U64(code, DMP_EXIT_USAGE);
        snprintf(want, sizeof(want), "%sdmpctl dmp patch: unexpected argument '%s'\n", use,
                 unexpected[i].arg);
        CHECK_STREQ(err, want);
        CHECK_STREQ(out, "");
    }

    /* No domain at all. */
    CHECK(!parse("patch --json", &o, &code, out, err));
    CHECK_EQ_U64(code, DMP_EXIT_USAGE);
    char want[256];
    snprintf(want, sizeof(want), "%sdmpctl dmp patch: missing domain name or id\n", use);
    CHECK_STREQ(err, want);
    return DMP_TEST_SUMMARY("args");
}
