/*
 * Stand-in for collectd's configure-generated config.h, for building the
 * tsstore plugins against the vendored collectd 5.12 headers beside this
 * file (see third_party/collectd/README.md). Not a copy of collectd's: it
 * defines only what those headers test, with the values collectd 5.12's
 * configure finds on Linux with glibc (the same as Debian 12's
 * collectd-dev has in /usr/include/collectd/core/config.h).
 *
 * DATA_MAX_NAME_LEN is part of the plugin ABI (value_list_t, data_set_t,
 * notification_t embed arrays of it): 128 is collectd's default and what
 * Debian and Fedora build collectd with.
 */
#ifndef TSSTORE_VENDORED_COLLECTD_CONFIG_H
#define TSSTORE_VENDORED_COLLECTD_CONFIG_H

#define PACKAGE_NAME "collectd"
#define PACKAGE_VERSION "5.12.0"

#define DATA_MAX_NAME_LEN 128
#define COLLECT_DEBUG 0

#define KERNEL_LINUX 1
#define HAVE_DIRENT_H 1
#define HAVE_ENDIAN_H 1
#define HAVE_FCNTL_H 1
#define HAVE_GETPWNAM_R 1
#define HAVE_PWD_H 1
#define HAVE_STRINGS_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_SOCKET_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_SYS_WAIT_H 1
#define HAVE_UNISTD_H 1
#define TIME_WITH_SYS_TIME 1
#define NAN_STATIC_DEFAULT 1
#define FP_LAYOUT_NEED_NOTHING 1

#endif
