/* dmpctl list: the domains dmpctl can address, with their paging mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpcli/cli.h"
#include "dmpxen/domain.h"
#include "dmpcommon/json.h"

int cmd_list(int argc, char **argv);

int cmd_list(int argc, char **argv)
{
    bool json = false;
    if (dmp_cli_wants_help(argc, argv)) {
        printf("usage: dmpctl list [--json]\nList domains with their type and paging mode.\n");
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return dmp_cli_error(DMP_EXIT_USAGE, "list", "unexpected argument '%s'", argv[i]);
    }
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    xc_interface *xch = xc_interface_open(NULL, NULL, 0);
    if (!xs || !xch) {
        if (xs)
            xs_close(xs);
        if (xch)
            xc_interface_close(xch);
        return dmp_cli_error(DMP_EXIT_FAIL, "list", "cannot reach Xen (xenstore/privcmd): %s", strerror(errno));
    }
    uint32_t *ids;
    int n = dmp_domain_list(xs, &ids);
    int rc = DMP_EXIT_OK;
    struct dmp_json j;
    if (n < 0) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, "list", "cannot list domains: %s", strerror(-n));
        goto out;
    }
    if (json) {
        dmp_json_init(&j, stdout, true);
        dmp_json_arr_begin(&j);
    } else {
        printf("%-20s %5s %-5s %-7s %10s\n", "Name", "ID", "Type", "Paging", "Mem(MiB)");
    }
    for (int i = 0; i < n; i++) {
        xc_dominfo_t info;
        if (xc_domain_getinfo(xch, ids[i], 1, &info) != 1 || info.domid != ids[i])
            continue;
        char path[64], *name, *ltype;
        unsigned int len;
        snprintf(path, sizeof(path), "/local/domain/%u/name", ids[i]);
        name = xs_read(xs, XBT_NULL, path, &len);
        /* Xen only knows "HVM container or not"; libxl records whether that is PVH or HVM. */
        snprintf(path, sizeof(path), "/libxl/%u/type", ids[i]);
        ltype = xs_read(xs, XBT_NULL, path, &len);
        const char *type = ltype ? ltype : info.hvm ? "hvm" : "pv";
        const char *paging = !info.hvm ? "pv" : info.hap ? "hap" : "shadow";
        uint64_t mem_mib = (uint64_t)info.nr_pages * 4 / 1024;
        if (json) {
            dmp_json_obj_begin(&j);
            DMP_JSON_KV(&j, "name", dmp_json_str, name ? name : "");
            DMP_JSON_KV(&j, "domid", dmp_json_u64, ids[i]);
            DMP_JSON_KV(&j, "type", dmp_json_str, type);
            DMP_JSON_KV(&j, "paging", dmp_json_str, paging);
            DMP_JSON_KV(&j, "memory_bytes", dmp_json_u64, (uint64_t)info.nr_pages * 4096);
            dmp_json_obj_end(&j);
        } else {
            printf("%-20s %5u %-5s %-7s %10llu\n", name ? name : "?", ids[i], type, paging,
                   (unsigned long long)mem_mib);
        }
        free(name);
        free(ltype);
    }
    if (json && dmp_json_finish(&j) != 0)
        rc = DMP_EXIT_FAIL;
    free(ids);
out:
    xs_close(xs);
    xc_interface_close(xch);
    return rc;
}
