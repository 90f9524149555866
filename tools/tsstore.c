/*
 * tsstore — the command-line tool for tsstore stores.
 *
 *   tsstore ls|dump|coverage [options] DIR   read: series, points, gaps
 *   tsstore delete|compact|rollup|prune ...  change: through the running
 *                                            writer, or directly if none
 *   tsstore import|stats|verify|info ...     everything else
 *
 * Exit codes: 0 success, 1 error (including files skipped as unreadable),
 * 2 usage error. Reads take no lock and never modify the store.
 * The commands are implemented in cmd_*.c; see docs/man/tsstore.1.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tsstore/version.h"

static const char USAGE[] =
    "Usage: tsstore COMMAND [OPTIONS] DIR\n"
    "\n"
    "Read and manage a tsstore store (the DataDir of collectd's\n"
    "write_tsstore). Reading never takes a lock; changes go through the\n"
    "collectd that writes the store, or are applied here if none does.\n"
    "\n"
    "Commands:\n"
    "  ls        list series: kind, point count, first and last time\n"
    "  dump      print points\n"
    "  coverage  covered time ranges and gaps per series, coverage percent\n"
    "  delete    delete the points of --series (and --ds, --from, --to);\n"
    "            safe while collectd writes; --dry-run shows what goes\n"
    "  compact   rewrite segments without deleted points, merge windows\n"
    "            split over several segments\n"
    "  rollup    keep old windows as aggregates: --level AFTER:RES[:KEEP]\n"
    "            (with collectd running: its <Rollup> levels)\n"
    "  prune     remove whole segments: --older-than DURATION, --max-size\n"
    "            SIZE (with collectd running: its RetentionTime/Size)\n"
    "  import    import collectd csv plugin data: --csv CSV_DATADIR\n"
    "            [--types-db FILE] [--rates-as-gauge]; collectd must not\n"
    "            write the store\n"
    "  stats     health figures: series, points, bytes per kind of file,\n"
    "            snapshot age, deletes, coverage of the last hour\n"
    "  verify    check every file of the store; --repair fixes what is\n"
    "            safe to fix (collectd must not be writing the store)\n"
    "  info      print the store's settings (precision, span, uuid)\n"
    "\n"
    "Options:\n"
    "  -s, --series GLOB   only series whose identifier\n"
    "                      host/plugin[-plugin_instance]/type[-type_instance]\n"
    "                      matches the shell pattern GLOB ('*' matches '/')\n"
    "  -d, --ds NAME       only the data source NAME (value, rx, tx, ...)\n"
    "  -f, --from T        from time T, inclusive\n"
    "  -t, --to T          to time T, inclusive\n"
    "                      T: epoch seconds (1700000000.25) or RFC 3339\n"
    "                      (2023-11-14T22:13:20Z, ...+01:00)\n"
    "  -F, --format FMT    text (ls, coverage default), csv (dump default),\n"
    "                      jsonl, or openmetrics (dump: for promtool tsdb\n"
    "                      create-blocks-from openmetrics)\n"
    "  -R, --resolution R  ls, dump: raw (dump default), a rollup\n"
    "                      resolution (5m, 1h), or auto (each window at\n"
    "                      the one resolution it is kept at; ls default);\n"
    "                      adds columns\n"
    "  -g, --gaps          coverage: print only the gaps\n"
    "  -r, --repair        verify: rebuild missing coverage sidecars, remove\n"
    "                      temp files and orphaned sidecars\n"
    "  -n, --dry-run       delete: list series, segments and point counts\n"
    "                      that would be deleted; change nothing\n"
    "  -w, --wait          delete, compact, rollup, prune: wait until the\n"
    "                      running writer has applied it (delete: visible\n"
    "                      to readers)\n"
    "      --timeout S     delete, compact, rollup, prune: how long --wait\n"
    "                      waits (default 60 s)\n"
    "  -L, --level A:R[:K] rollup: after A, keep aggregates per R, drop\n"
    "                      them after K (5m resolution after 7d: 7d:5m);\n"
    "                      repeat for several levels\n"
    "  -O, --older-than D  prune: remove windows that ended before now-D\n"
    "  -M, --max-size SIZE prune: then remove the oldest windows while the\n"
    "                      store is larger than SIZE (K, M, G, T)\n"
    "  -C, --csv DIR       import: the csv plugin's DataDir (host dirs)\n"
    "  -Y, --types-db FILE import: kinds of the data sources (default\n"
    "                      /usr/share/collectd/types.db)\n"
    "      --rates-as-gauge\n"
    "                      import: a file the csv plugin wrote with\n"
    "                      StoreRates true (rates, not counters, in its\n"
    "                      derive, counter, absolute columns) is refused;\n"
    "                      with this option those columns are stored as\n"
    "                      gauge series\n"
    "\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "Times are printed as epoch seconds in the store's precision, gauges\n"
    "with 17 significant digits (they round-trip), integers exactly.\n"
    "Exit status: 0 ok, 1 error, 2 usage. See tsstore(1).\n";

enum { OPT_RATES_AS_GAUGE = 256 }; /* long options without a letter */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"series", required_argument, NULL, 's'},
        {"ds", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'F'},
        {"gaps", no_argument, NULL, 'g'},
        {"repair", no_argument, NULL, 'r'},
        {"dry-run", no_argument, NULL, 'n'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'},
        {"csv", required_argument, NULL, 'C'},
        {"older-than", required_argument, NULL, 'O'},
        {"resolution", required_argument, NULL, 'R'},
        {"level", required_argument, NULL, 'L'},
        {"max-size", required_argument, NULL, 'M'},
        {"types-db", required_argument, NULL, 'Y'},
        {"rates-as-gauge", no_argument, NULL, OPT_RATES_AS_GAUGE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    cli_opts o = {.format = -1, .timeout = 60};
    const char *cmd = NULL;
    int c;

    /* global options before the command */
    if (argc > 1 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
         strcmp(argv[1], "help") == 0)) {
        fputs(USAGE, stdout);
        return EXIT_OK;
    }
    if (argc > 1 &&
        (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("tsstore %s\n", TSS_VERSION);
        return EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error(
            "%s",
            "missing command (ls, dump, coverage, delete, compact, rollup, "
            "prune, import, stats, verify, info)");
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "s:d:f:t:F:grnwT:C:Y:O:M:R:L:hV",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o.series = optarg;
            break;
        case 'd':
            o.ds = optarg;
            break;
        case 'f':
            o.from = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'F':
            o.format = cli_format_parse(optarg);
            if (o.format < 0)
                return cli_usage_error("--format: \"%s\" is not text, csv, "
                                       "jsonl or openmetrics",
                                       optarg);
            break;
        case 'g':
            o.gaps = true;
            break;
        case 'r':
            o.repair = true;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'C':
            o.csv_dir = optarg;
            break;
        case 'Y':
            o.types_db = optarg;
            break;
        case OPT_RATES_AS_GAUGE:
            o.rates_as_gauge = true;
            break;
        case 'O':
            o.older_than = optarg;
            break;
        case 'R':
            o.resolution = optarg;
            break;
        case 'L':
            if (o.nlevels == sizeof(o.levels) / sizeof(o.levels[0]))
                return cli_usage_error("%s", "too many --level");
            o.levels[o.nlevels++] = optarg;
            break;
        case 'M':
            o.max_size = optarg;
            break;
        case 'w':
            o.wait = true;
            break;
        case 'T': {
            char *end;

            o.timeout = strtod(optarg, &end);
            if (*end || end == optarg || !(o.timeout > 0))
                return cli_usage_error("--timeout: \"%s\" is not a number "
                                       "of seconds",
                                       optarg);
            break;
        }
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        case 'V':
            printf("tsstore %s\n", TSS_VERSION);
            return EXIT_OK;
        default:
            return cli_usage_error("%s", "invalid option");
        }
    }
    if (strcmp(cmd, "ls") != 0 && strcmp(cmd, "dump") != 0 &&
        strcmp(cmd, "coverage") != 0 && strcmp(cmd, "verify") != 0 &&
        strcmp(cmd, "delete") != 0 && strcmp(cmd, "compact") != 0 &&
        strcmp(cmd, "stats") != 0 && strcmp(cmd, "import") != 0 &&
        strcmp(cmd, "prune") != 0 && strcmp(cmd, "rollup") != 0 &&
        strcmp(cmd, "info") != 0)
        return cli_usage_error("unknown command \"%s\" (ls, dump, coverage, "
                               "delete, compact, rollup, prune, import, stats, "
                               "verify, info)",
                               cmd);
    if (optind != argc - 1)
        return cli_usage_error("%s", optind >= argc
                                         ? "missing store directory"
                                         : "more than one directory");
    o.dir = argv[optind];
    if (strcmp(cmd, "info") == 0)
        return cmd_info(&o);
    if (strcmp(cmd, "coverage") == 0)
        return cmd_coverage(&o);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(&o);
    if (strcmp(cmd, "delete") == 0)
        return cmd_delete(&o);
    if (strcmp(cmd, "compact") == 0)
        return cmd_compact(&o);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(&o);
    if (strcmp(cmd, "import") == 0)
        return cmd_import(&o);
    if (strcmp(cmd, "prune") == 0)
        return cmd_prune(&o);
    if (strcmp(cmd, "rollup") == 0)
        return cmd_rollup(&o);
    return cmd_query(&o, strcmp(cmd, "dump") == 0);
}
