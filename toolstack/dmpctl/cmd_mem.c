/* dmpctl mem-set / mem-info / balance: balloon control like xl mem-set, the memory picture of
 * each guest (with dmpd's working-set estimate, floor and ceiling when the daemon runs), and
 * the balancing service's status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpmem/balloon_ctl.h"
#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpcommon/util.h"
#include "cmd_mem.h"

int cmd_mem_set(int argc, char **argv);
int cmd_mem_info(int argc, char **argv);
int cmd_balance(int argc, char **argv);

/* dmpd answers between balancing steps; a step can take seconds on a loaded (emulated) host. */
#define DMPD_TIMEOUT_MS 10000

int dmpctl_open_xen(const char *cmd, struct xs_handle **xs, xc_interface **xch)
{
    *xs = xs_open(0);
    *xch = xc_interface_open(NULL, NULL, 0);
    if (!*xs || !*xch) {
        int e = errno;
        if (*xs)
            xs_close(*xs);
        if (*xch)
            xc_interface_close(*xch);
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot reach Xen (xenstore/privcmd): %s", strerror(e));
    }
    return 0;
}

int cmd_mem_set(int argc, char **argv)
{
    if (dmp_cli_wants_help(argc, argv)) {
        printf("usage: dmpctl mem-set <dom> <size> [--wait SECONDS]\n"
               "Set the guest's memory target exactly as 'xl mem-set' does: memory/target in\n"
               "xenstore, Xen's max memory (+%u KiB, as libxl), the PoD target for PVH/HVM.\n"
               "size takes k/m/g suffixes; a bare number is MiB (as in xl). Refused above the\n"
               "guest's memory/static-max or below %u MiB. --wait polls until the guest's\n"
               "balloon reaches the target (within 1 MiB) or the time runs out (exit 1).\n",
               DMP_BALLOON_MAXMEM_SLACK_KIB, DMP_BALLOON_ABS_MIN_KIB / 1024);
        return DMP_EXIT_OK;
    }
    const char *dom = NULL, *size = NULL;
    uint64_t wait_s = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            if (dmp_parse_u64(argv[++i], &wait_s) < 0 || wait_s > 3600)
                return dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "bad --wait '%s' (seconds, <= 3600)", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "unknown option '%s'", argv[i]);
        } else if (!dom) {
            dom = argv[i];
        } else if (!size) {
            size = argv[i];
        } else {
            return dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!dom || !size)
        return dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "need <dom> <size> (see --help)");
    uint64_t bytes;
    if (dmp_parse_size(size, 1u << 20, &bytes) < 0 || bytes % 1024)
        return dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "bad size '%s' (e.g. 512, 512m, 1g, 524288k)", size);
    struct xs_handle *xs;
    xc_interface *xch;
    int rc = dmpctl_open_xen("mem-set", &xs, &xch);
    if (rc)
        return rc;
    char err[256], name[DMP_DOMAIN_NAME_MAX];
    uint32_t domid;
    struct dmp_balloon_info before, now;
    if (dmp_domain_resolve(xs, dom, &domid, name, sizeof(name), err, sizeof(err)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_USAGE, "mem-set", "%s", err);
        goto out;
    }
    if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, domid, &before, err, sizeof(err)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, "mem-set", "%s", err);
        goto out;
    }
    int src = dmp_balloon_set_target(xs, (struct xc_interface_core *)xch, domid, bytes / 1024,
                                     DMP_BALLOON_ABS_MIN_KIB, err, sizeof(err));
    if (src < 0) {
        rc = dmp_cli_error(src == -EINVAL ? DMP_EXIT_USAGE : DMP_EXIT_FAIL, "mem-set",
                           "domain %s: %s", name, err);
        goto out;
    }
    if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, domid, &now, err, sizeof(err)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, "mem-set", "%s", err);
        goto out;
    }
    printf("%s (%u): target %llu KiB (was %llu KiB), actual %llu KiB\n", name, domid,
           (unsigned long long)now.target_kib, (unsigned long long)before.target_kib,
           (unsigned long long)now.actual_kib);
    if (wait_s) {
        uint64_t t0 = dmp_mono_ms(), deadline = t0 + wait_s * 1000;
        bool reached = false;
        while (dmp_mono_ms() < deadline) {
            if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, domid, &now, err, sizeof(err)) < 0)
                break;
            uint64_t d = now.actual_kib > now.target_kib ? now.actual_kib - now.target_kib
                                                         : now.target_kib - now.actual_kib;
            if (d <= 1024) {
                reached = true;
                break;
            }
            dmp_sleep_ms(200);
        }
        uint64_t el = dmp_mono_ms() - t0;
        printf("%s (%u): actual %llu KiB after %llu ms (%s)\n", name, domid,
               (unsigned long long)now.actual_kib, (unsigned long long)el,
               reached ? "reached" : "not reached");
        if (!reached)
            rc = DMP_EXIT_FAIL;
    }
out:
    xs_close(xs);
    xc_interface_close(xch);
    return rc;
}

/* dmpd's view of one guest: "key=value ..." from "balloon est <domid>". */
struct dmpd_view {
    bool have;
    uint64_t estimate_kib, floor_kib, ceiling_kib;
    bool estimate_valid;
    char state[24];
};

static void query_dmpd(uint32_t domid, struct dmpd_view *v)
{
    char req[64], err[128], *body = NULL;
    memset(v, 0, sizeof(*v));
    snprintf(req, sizeof(req), "balloon est %u\n", domid);
    int code = dmpd_call(dmpd_socket_path(), req, &body, DMPD_TIMEOUT_MS, err, sizeof(err));
    if (code != DMP_EXIT_OK || !body) {
        free(body);
        return;
    }
    char *save = NULL;
    for (char *tok = strtok_r(body, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq++ = '\0';
        uint64_t x;
        if (strcmp(tok, "state") == 0)
            snprintf(v->state, sizeof(v->state), "%s", eq);
        else if (dmp_parse_u64(eq, &x) < 0)
            continue;
        else if (strcmp(tok, "estimate_kib") == 0) {
            v->estimate_kib = x;
            v->estimate_valid = true;
        } else if (strcmp(tok, "floor_kib") == 0)
            v->floor_kib = x;
        else if (strcmp(tok, "ceiling_kib") == 0)
            v->ceiling_kib = x;
    }
    v->have = true;
    free(body);
}

static const char *feature_name(enum dmp_balloon_feature f)
{
    return f == DMP_FEATURE_PRESENT ? "yes" : f == DMP_FEATURE_ABSENT ? "no" : "unknown";
}

static void kib_col(uint64_t kib, bool known)
{
    if (known)
        printf(" %10llu", (unsigned long long)(kib / 1024));
    else
        printf(" %10s", "unknown");
}

static void kv_kib(struct dmp_json *j, const char *k, uint64_t kib, bool known)
{
    dmp_json_key(j, k);
    if (known)
        dmp_json_u64(j, kib);
    else
        dmp_json_null(j);
}

int cmd_mem_info(int argc, char **argv)
{
    if (dmp_cli_wants_help(argc, argv)) {
        printf("usage: dmpctl mem-info [<dom>] [--json]\n"
               "Each guest's memory target, actual allocation, Xen maximum and balloon driver,\n"
               "with the working-set estimate, floor and ceiling from dmpd (unknown when dmpd\n"
               "is not running; socket $DMPD_SOCKET or " DMPD_DEFAULT_SOCKET "). Sizes in MiB\n"
               "(text) or KiB (JSON, *_kib).\n");
        return DMP_EXIT_OK;
    }
    const char *dom = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] == '-')
            return dmp_cli_error(DMP_EXIT_USAGE, "mem-info", "unknown option '%s'", argv[i]);
        else if (!dom)
            dom = argv[i];
        else
            return dmp_cli_error(DMP_EXIT_USAGE, "mem-info", "unexpected argument '%s'", argv[i]);
    }
    struct xs_handle *xs;
    xc_interface *xch;
    int rc = dmpctl_open_xen("mem-info", &xs, &xch);
    if (rc)
        return rc;
    char err[256];
    uint32_t *ids = NULL;
    int n;
    if (dom) {
        ids = malloc(sizeof(*ids));
        if (!ids || dmp_domain_resolve(xs, dom, ids, NULL, 0, err, sizeof(err)) < 0) {
            rc = dmp_cli_error(DMP_EXIT_USAGE, "mem-info", "%s", ids ? err : "out of memory");
            goto out;
        }
        n = 1;
    } else if ((n = dmp_domain_list(xs, &ids)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, "mem-info", "cannot list domains: %s", strerror(-n));
        goto out;
    }
    struct dmp_json j;
    if (json) {
        dmp_json_init(&j, stdout, true);
        dmp_json_arr_begin(&j);
    } else {
        printf("%-16s %5s %10s %10s %10s %10s %10s %10s %-8s %s\n", "Name", "ID", "Target", "Actual",
               "Max", "WSS", "Floor", "Ceiling", "Balloon", "State");
    }
    for (int i = 0; i < n; i++) {
        struct dmp_balloon_info bi;
        if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, ids[i], &bi, err, sizeof(err)) < 0) {
            if (dom) {
                rc = dmp_cli_error(DMP_EXIT_FAIL, "mem-info", "%s", err);
                break;
            }
            continue;   /* dom0 without memory/target, or a dying domain */
        }
        char path[64], *name;
        unsigned int len;
        snprintf(path, sizeof(path), "/local/domain/%u/name", ids[i]);
        name = xs_read(xs, XBT_NULL, path, &len);
        struct dmpd_view v;
        query_dmpd(ids[i], &v);
        if (json) {
            dmp_json_obj_begin(&j);
            DMP_JSON_KV(&j, "name", dmp_json_str, name ? name : "");
            DMP_JSON_KV(&j, "domid", dmp_json_u64, ids[i]);
            DMP_JSON_KV(&j, "target_kib", dmp_json_u64, bi.target_kib);
            DMP_JSON_KV(&j, "actual_kib", dmp_json_u64, bi.actual_kib);
            DMP_JSON_KV(&j, "static_max_kib", dmp_json_u64, bi.static_max_kib);
            DMP_JSON_KV(&j, "xen_max_kib", dmp_json_u64, bi.maxmem_kib);
            DMP_JSON_KV(&j, "balloon_driver", dmp_json_str, feature_name(bi.feature_balloon));
            kv_kib(&j, "estimate_kib", v.estimate_kib, v.have && v.estimate_valid);
            kv_kib(&j, "floor_kib", v.floor_kib, v.have && v.floor_kib);
            kv_kib(&j, "ceiling_kib", v.ceiling_kib, v.have && v.ceiling_kib);
            dmp_json_key(&j, "state");
            if (v.have && v.state[0])
                dmp_json_str(&j, v.state);
            else
                dmp_json_null(&j);
            dmp_json_obj_end(&j);
        } else {
            printf("%-16s %5u", name ? name : "?", ids[i]);
            kib_col(bi.target_kib, true);
            kib_col(bi.actual_kib, true);
            kib_col(bi.static_max_kib, bi.static_max_kib != 0);
            kib_col(v.estimate_kib, v.have && v.estimate_valid);
            kib_col(v.floor_kib, v.have && v.floor_kib);
            kib_col(v.ceiling_kib, v.have && v.ceiling_kib);
            printf(" %-8s %s\n", feature_name(bi.feature_balloon),
                   v.have && v.state[0] ? v.state : "unknown");
        }
        free(name);
    }
    if (json && dmp_json_finish(&j) != 0)
        rc = DMP_EXIT_FAIL;
out:
    free(ids);
    xs_close(xs);
    xc_interface_close(xch);
    return rc;
}

int cmd_balance(int argc, char **argv)
{
    if (argc < 2 || dmp_cli_wants_help(argc, argv)) {
        printf("usage: dmpctl balance status [--json]\n"
               "       dmpctl balance metrics [--json|--prom]\n"
               "       dmpctl balance settings\n"
               "Ask dmpd's memory balancer for its per-guest state (targets, estimates,\n"
               "floors, ceilings, stuck or balloon-less guests), its metrics, or the effective\n"
               "settings (configuration file + xenstore overrides) in configuration syntax.\n");
        return argc < 2 ? DMP_EXIT_USAGE : DMP_EXIT_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "status") != 0 && strcmp(verb, "metrics") != 0 && strcmp(verb, "settings") != 0)
        return dmp_cli_error(DMP_EXIT_USAGE, "balance", "unknown subcommand '%s'", verb);
    char req[128];
    size_t off = (size_t)snprintf(req, sizeof(req), "balloon %s", verb);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") != 0 && strcmp(argv[i], "--prom") != 0)
            return dmp_cli_error(DMP_EXIT_USAGE, "balance", "unknown option '%s'", argv[i]);
        off += (size_t)snprintf(req + off, sizeof(req) - off, " %s", argv[i]);
    }
    snprintf(req + off, sizeof(req) - off, "\n");
    char err[256], *body = NULL;
    int code = dmpd_call(dmpd_socket_path(), req, &body, DMPD_TIMEOUT_MS, err, sizeof(err));
    if (code < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, "balance", "dmpd not reachable: %s", err);
    fputs(body ? body : "", code == DMP_EXIT_OK ? stdout : stderr);
    free(body);
    return code;
}
