/* dmpctl segment: named memory segments kept by dmpd (docs/SEGMENTS.md).
 * dmpctl checks names and sizes itself so typos get precise errors even without the daemon,
 * then hands the request to dmpd's "segment" service, which owns the memory and the grants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"
#include "dmpseg/segment.h"
#include "dmpcommon/util.h"

int cmd_segment(int argc, char **argv);

#define CMD "segment"
#define DEFAULT_ATTACH_WAIT_S 10
#define DEFAULT_DETACH_WAIT_S 10
#define MAX_WAIT_S 60
/* Slack on top of the daemon's own bounded wait: granting and publishing take time too, and a
 * loaded host (TCG lab) makes every xenstore round trip slow. */
#define CALL_SLACK_MS 30000
/* Registry updates fsync the state directory, which can be slow storage (9p in the lab). */
#define SIMPLE_CALL_MS 30000

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dmpctl segment <verb> ...\n"
            "  create <name> <size> [--shared|--private] [--persistent]\n"
            "                           new segment, zero-filled; size in k/m/g (bare = MiB), page multiple,\n"
            "                           at most 1g. --shared (default): several domains may attach it.\n"
            "                           --persistent: replaced contents are saved in dmpd's state directory\n"
            "  attach <dom> <name> [--ro|--rw] [--wait S]\n"
            "                           grant the segment to a running guest (default --rw); waits up to S\n"
            "                           seconds (default %d) for the guest's dmpseg driver to connect\n"
            "  detach <dom> <name> [--timeout S]\n"
            "                           ask the guest to release it; pages it still maps after S seconds\n"
            "                           (default %d) are kept, not freed, and the command fails\n"
            "  replace <name>           the current contents become the contents of the next first attach\n"
            "  list [--json]            segments, access lists and attachments\n"
            "  destroy <name>           remove a segment that no domain has attached\n"
            "  allow <name> <domname>   let a domain (by name, so it survives restarts) attach the segment\n"
            "  deny <name> <domname>    remove it from the access list\n"
            "Talks to dmpd on $DMPD_SOCKET or " DMPD_DEFAULT_SOCKET ".\n",
            DEFAULT_ATTACH_WAIT_S, DEFAULT_DETACH_WAIT_S);
}

static int call(const char *request, int timeout_ms)
{
    char *body = NULL, err[256];
    int code = dmpd_call(dmpd_socket_path(), request, &body, timeout_ms, err, sizeof(err));
    if (code < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "%s", err);
    if (body && *body)
        fputs(body, code == DMP_EXIT_OK || code == DMP_EXIT_NOTHING ? stdout : stderr);
    free(body);
    return code;
}

static int check_name(const char *name)
{
    char err[256];
    if (dmp_seg_name_check(name, err, sizeof(err)) < 0)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s", err);
    return 0;
}

/* Domain specs go to the daemon as one word: reject anything that would split or confuse it. */
static int check_dom(const char *dom)
{
    char err[256];
    if (dmp_seg_domname_check(dom, err, sizeof(err)) < 0)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s", err);
    return 0;
}

static int parse_secs(const char *opt, const char *v, uint64_t *secs)
{
    if (!v || dmp_parse_u64(v, secs) != 0 || *secs > MAX_WAIT_S)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s wants a number of seconds up to %d, not '%s'", opt,
                             MAX_WAIT_S, v ? v : "");
    return 0;
}

static int do_create(int argc, char **argv)
{
    const char *pos[2];
    int npos = 0;
    bool shared = true, persistent = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shared") == 0)
            shared = true;
        else if (strcmp(argv[i], "--private") == 0)
            shared = false;
        else if (strcmp(argv[i], "--persistent") == 0)
            persistent = true;
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "create: unknown option '%s'", argv[i]);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "create: unexpected argument '%s'", argv[i]);
    }
    if (npos != 2)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "create wants <name> <size>");
    if (check_name(pos[0]))
        return DMP_EXIT_USAGE;
    char err[256], req[256];
    uint64_t bytes;
    if (dmp_seg_size_parse(pos[1], &bytes, err, sizeof(err)) < 0)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s", err);
    snprintf(req, sizeof(req), "segment create %s %llu %s %s", pos[0], (unsigned long long)bytes,
             shared ? "shared" : "private", persistent ? "persistent" : "transient");
    return call(req, SIMPLE_CALL_MS);
}

static int do_attach_detach(int argc, char **argv, bool attach)
{
    const char *pos[2];
    int npos = 0;
    bool ro = false;
    uint64_t secs = attach ? DEFAULT_ATTACH_WAIT_S : DEFAULT_DETACH_WAIT_S;
    for (int i = 1; i < argc; i++) {
        if (attach && strcmp(argv[i], "--ro") == 0)
            ro = true;
        else if (attach && strcmp(argv[i], "--rw") == 0)
            ro = false;
        else if (strcmp(argv[i], attach ? "--wait" : "--timeout") == 0) {
            if (parse_secs(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &secs))
                return DMP_EXIT_USAGE;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] == '-')
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s: unknown option '%s'", argv[0], argv[i]);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s: unexpected argument '%s'", argv[0], argv[i]);
    }
    if (npos != 2)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s wants <dom> <name>", argv[0]);
    if (check_dom(pos[0]) || check_name(pos[1]))
        return DMP_EXIT_USAGE;
    char req[256];
    if (attach)
        snprintf(req, sizeof(req), "segment attach %s %s %s %llu", pos[0], pos[1], ro ? "ro" : "rw",
                 (unsigned long long)secs * 1000);
    else
        snprintf(req, sizeof(req), "segment detach %s %s %llu", pos[0], pos[1], (unsigned long long)secs * 1000);
    return call(req, (int)secs * 1000 + CALL_SLACK_MS);
}

static int do_simple(int argc, char **argv, int nargs)
{
    if (argc != nargs + 1)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s wants %s", argv[0],
                             nargs == 1 ? "<name>" : "<name> <domname>");
    if (check_name(argv[1]) || (nargs == 2 && check_dom(argv[2])))
        return DMP_EXIT_USAGE;
    char req[256];
    snprintf(req, sizeof(req), "segment %s %s%s%s", argv[0], argv[1], nargs == 2 ? " " : "",
             nargs == 2 ? argv[2] : "");
    /* replace writes the whole segment to disk with fsync: allow for a slow disk. */
    return call(req, strcmp(argv[0], "replace") == 0 ? 120000 : SIMPLE_CALL_MS);
}

int cmd_segment(int argc, char **argv)
{
    if (argc < 2 || dmp_cli_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? DMP_EXIT_USAGE : DMP_EXIT_OK;
    }
    const char *verb = argv[1];
    argc--;
    argv++;
    if (strcmp(verb, "create") == 0)
        return do_create(argc, argv);
    if (strcmp(verb, "attach") == 0 || strcmp(verb, "detach") == 0)
        return do_attach_detach(argc, argv, verb[0] == 'a');
    if (strcmp(verb, "replace") == 0 || strcmp(verb, "destroy") == 0)
        return do_simple(argc, argv, 1);
    if (strcmp(verb, "allow") == 0 || strcmp(verb, "deny") == 0)
        return do_simple(argc, argv, 2);
    if (strcmp(verb, "list") == 0) {
        if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json") != 0))
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "list takes only --json");
        return call(argc == 2 ? "segment list --json" : "segment list", SIMPLE_CALL_MS);
    }
    return dmp_cli_error(DMP_EXIT_USAGE, CMD, "unknown verb '%s' (try 'dmpctl segment --help')", verb);
}
