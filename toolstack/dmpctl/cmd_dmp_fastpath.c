/* dmpctl dmp fastpath <dom> on|off|stats: the hypervisor fast path switch on its own (the
 * patch command turns it on with --mode fastpath; this is for tests and for inspection). */
#include <stdio.h>
#include <string.h>
#include <xenstore.h>

#include "cmd_dmp.h"
#include "dmpcli/cli.h"
#include "dmpxen/domain.h"
#include "dmp/fastpath.h"
#include "dmpcommon/json.h"

#define CMD_FP "dmp fastpath"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp fastpath <dom> on|off|stats [--json]\n"
            "  on     let the guest's patched stubs ask Xen for page-table stores (hypercall 54);\n"
            "         the counters are zeroed when it was off\n"
            "  off    refuse those calls (-EPERM): the stubs store themselves\n"
            "  stats  stores applied and calls rejected, by reason\n"
            "Only for an HVM/PVH guest under shadow paging, on the DMP build of Xen.\n");
}

int dmp_cmd_fastpath(int argc, char **argv)
{
    if (dmp_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DMP_EXIT_OK;
    }
    bool json = false;
    const char *spec = NULL, *what = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] == '-')
            return dmp_cli_error(DMP_EXIT_USAGE, CMD_FP, "unknown option '%s'", argv[i]);
        else if (!spec)
            spec = argv[i];
        else if (!what)
            what = argv[i];
        else
            return dmp_cli_error(DMP_EXIT_USAGE, CMD_FP, "unexpected argument '%s'", argv[i]);
    }
    if (!spec || !what) {
        usage(stderr);
        return DMP_EXIT_USAGE;
    }
    enum dmp_fastpath_op op;
    if (strcmp(what, "on") == 0)
        op = DMP_FASTPATH_ENABLE;
    else if (strcmp(what, "off") == 0)
        op = DMP_FASTPATH_DISABLE;
    else if (strcmp(what, "stats") == 0)
        op = DMP_FASTPATH_GET_STATS;
    else
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_FP, "'%s' is not on, off or stats", what);

    struct xs_handle *xs = xs_open(0);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_FP, "cannot reach xenstore");
    uint32_t domid;
    char name[128], err[256];
    int rc = dmp_domain_resolve(xs, spec, &domid, name, sizeof(name), err, sizeof(err));
    xs_close(xs);
    if (rc)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_FP, "%s", err);

    struct dmp_fastpath_stats st;
    rc = dmp_fastpath_ctl(domid, op, &st, err, sizeof(err));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_FP, "%s", err);
    if (json) {
        struct dmp_json js;
        dmp_json_init(&js, stdout, true);
        dmp_json_obj_begin(&js);
        DMP_JSON_KV(&js, "domain", dmp_json_str, name);
        DMP_JSON_KV(&js, "domid", dmp_json_u64, domid);
        dmp_json_key(&js, "fastpath");
        dmp_fastpath_stats_json(&js, &st);
        dmp_json_obj_end(&js);
        if (dmp_json_finish(&js))
            return dmp_cli_error(DMP_EXIT_FAIL, CMD_FP, "cannot write the JSON output");
    } else {
        printf("domain %s (%u): ", name, domid);
        dmp_fastpath_stats_text(stdout, &st);
    }
    return DMP_EXIT_OK;
}
