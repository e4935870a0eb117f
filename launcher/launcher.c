/* OSVDI - osvdi-launcher: one transport pipeline per VM with a mediated GPU
 * SPDX-License-Identifier: Apache-2.0
 *
 * Follows libvirt's domain lifecycle events; every running domain with an
 * mdev display or QEMU's D-Bus display (<graphics type='dbus' p2p='yes'/>,
 * handed to the child as fd 5 from virDomainOpenGraphicsFD) gets a child
 * process (osvdi-pipeline) running its flavor's pipeline, a SPICE port from
 * the configured range and a fresh ticket (none with [spice] console=proxy,
 * where a console proxy is the gate). The connection details are
 * published in the domain's metadata (without the ticket) and in a 0600 .vv
 * file per domain (with it).
 *
 * This file: options, signals, systemd, the main loop. Where the rest is:
 * session.c (one session's state machine), supervisor.c (sessions and their
 * children), libvirtconn.c (libvirt), publish.c (.vv files, metadata),
 * flavor.c (flavor files, pipelines), checkconfig.c (--check-config),
 * provider.c (the Placement provider config for nova-compute).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "checkconfig.h"
#include "launcherconfig.h"
#include "libvirtconn.h"
#include "log.h"
#include "provider.h"
#include "publish.h"
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib-unix.h>
#include <gst/gst.h>

typedef struct
{
  OsvdiLauncherConfig *cfg;
  GMainLoop *loop;
  OsvdiLibvirtConn *lc;
  OsvdiSupervisor *sup;
  gboolean stopping;
  gboolean sessions_gone;
  guint quit_source;
} Launcher;

static void
sd_notify_msg (const gchar * msg)
{
  const gchar *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = {.sun_family = AF_UNIX };
  socklen_t len;
  int fd;

  if (!path || !*path || strlen (path) >= sizeof (addr.sun_path))
    return;
  strncpy (addr.sun_path, path, sizeof (addr.sun_path) - 1);
  if (path[0] == '@')
    addr.sun_path[0] = '\0';    /* abstract socket */
  len = offsetof (struct sockaddr_un, sun_path) + strlen (path);
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  if (sendto (fd, msg, strlen (msg), MSG_NOSIGNAL, (struct sockaddr *) &addr,
          len) < 0)
    LOG_WARN ("sd_notify(%s): %s", msg, g_strerror (errno));
  close (fd);
}

static gboolean
on_quit_timeout (gpointer data)
{
  Launcher *l = data;

  l->quit_source = 0;
  if (l->sessions_gone)
    LOG_WARN ("libvirt did not finish withdrawing the published sessions; "
        "quitting anyway");
  else
    LOG_WARN ("pipelines still running at exit; quitting anyway");
  g_main_loop_quit (l->loop);
  return G_SOURCE_REMOVE;
}

static void
on_libvirt_done (gpointer data)
{
  Launcher *l = data;

  g_main_loop_quit (l->loop);
}

/* Every child is gone: quit once libvirt has done what the sessions left
 * it (their metadata withdrawn). */
static gboolean
on_sessions_gone (gpointer data)
{
  Launcher *l = data;

  l->sessions_gone = TRUE;
  osvdi_libvirt_conn_submit (l->lc, NULL, on_libvirt_done, l, NULL);
  return G_SOURCE_REMOVE;
}

static gchar *write_provider_path;
static gboolean write_provider;

static gboolean
on_write_provider_option (const gchar * name, const gchar * value,
    gpointer data, GError ** error)
{
  write_provider = TRUE;
  g_free (write_provider_path);
  write_provider_path = g_strdup (value && *value ? value : "-");
  return TRUE;
}

/* --write-provider-config: FILE (atomically) or stdout ("-"). */
static gint
write_provider_config (const OsvdiLauncherConfig * cfg,
    const OsvdiPlacementConfig * pcfg, const gchar * path)
{
  OsvdiProviderConfig *pc;
  GError *error = NULL;
  gint ret = 0;

  pc = osvdi_provider_config_compute (cfg, pcfg, &error);
  if (!pc) {
    g_printerr ("osvdi-launcher: cannot count the encoder sessions: %s\n",
        error->message);
    g_clear_error (&error);
    return 1;
  }
  if (strcmp (path, "-") == 0) {
    fputs (pc->yaml, stdout);
    if (fflush (stdout) != 0)
      ret = 1;
  } else {
    if (!g_str_has_suffix (path, ".yaml"))
      g_printerr ("osvdi-launcher: note: nova-compute reads only *.yaml "
          "files; %s will be ignored by it\n", path);
    if (!osvdi_provider_config_write (pc, path, &error)) {
      g_printerr ("osvdi-launcher: cannot write the provider config: %s\n",
          error->message);
      g_clear_error (&error);
      ret = 1;
    } else {
      g_printerr ("osvdi-launcher: wrote %s: %s\n", path, pc->summary);
    }
  }
  osvdi_provider_config_free (pc);
  return ret;
}

static gboolean
on_terminate (gpointer data)
{
  Launcher *l = data;

  if (l->stopping)
    return G_SOURCE_CONTINUE;
  LOG_INFO ("stopping every pipeline");
  sd_notify_msg ("STOPPING=1");
  l->stopping = TRUE;
  l->quit_source = g_timeout_add (l->cfg->stop_timeout_ms + 2000,
      on_quit_timeout, l);
  osvdi_supervisor_stop_all (l->sup);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  gchar *uri = NULL, *config_path = NULL, *console;
  gboolean check = FALSE;
  GOptionEntry entries[] = {
    {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
        "libvirt URI (default: launcher.conf's, else qemu:///system)", "URI"},
    {"config", 0, 0, G_OPTION_ARG_FILENAME, &config_path,
        "Configuration file (default " OSVDI_SYSCONFDIR "/launcher.conf)",
        "FILE"},
    {"check-config", 0, 0, G_OPTION_ARG_NONE, &check,
        "Validate launcher.conf and every flavor file, then exit", NULL},
    {"write-provider-config", 0, G_OPTION_FLAG_OPTIONAL_ARG,
          G_OPTION_ARG_CALLBACK, on_write_provider_option,
          "Write nova-compute's Placement provider config (encoder sessions "
          "this host can carry) to FILE or stdout ('-', the default), then "
          "exit", "FILE"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- one OSVDI pipeline per VM");
  GError *error = NULL;
  Launcher l = { 0 };
  OsvdiPlacementConfig *pcfg;
  gboolean explicit_config;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    return 2;
  }
  g_option_context_free (ctx);
  explicit_config = config_path != NULL;
  if (!config_path)
    config_path = g_build_filename (OSVDI_SYSCONFDIR, "launcher.conf", NULL);
  /* A renewed ticket written to a pipeline that is just exiting must be
   * an error (EPIPE) for that session, not the end of the launcher. */
  signal (SIGPIPE, SIG_IGN);

  l.cfg = osvdi_launcher_config_load (config_path, !explicit_config, &error);
  if (!l.cfg) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    g_clear_error (&error);
    g_free (config_path);
    return check || write_provider ? 1 : 2;
  }
  pcfg = osvdi_placement_config_load (config_path, !explicit_config, &error);
  if (!pcfg) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    if (check)
      g_print ("%s: ERROR: %s\n", config_path, error->message);
    g_clear_error (&error);
    osvdi_launcher_config_free (l.cfg);
    return check || write_provider ? 1 : 2;
  }
  if (uri) {
    g_free (l.cfg->uri);
    l.cfg->uri = uri;
  }
  if (!l.cfg->runner) {
    /* Installed beside the launcher. */
    gchar *self = g_file_read_link ("/proc/self/exe", NULL);
    gchar *dir = self ? g_path_get_dirname (self) : g_strdup (".");

    l.cfg->runner = g_build_filename (dir, "osvdi-pipeline", NULL);
    g_free (self);
    g_free (dir);
  }

  if (check || write_provider) {
    gint ret;

    gst_init (NULL, NULL);
    if (check)
      ret = osvdi_check_config (l.cfg, pcfg, config_path);
    else
      ret = write_provider_config (l.cfg, pcfg, write_provider_path);
    osvdi_placement_config_free (pcfg);
    osvdi_launcher_config_free (l.cfg);
    g_free (config_path);
    g_free (write_provider_path);
    return ret;
  }

  if (g_mkdir_with_parents (l.cfg->state_dir, 0700) < 0) {
    g_printerr ("osvdi-launcher: cannot create %s: %s\n", l.cfg->state_dir,
        g_strerror (errno));
    return 2;
  }
  osvdi_publish_vv_remove_all (l.cfg);
  if (pcfg->provider_config) {
    /* nova-compute reads it once at its start; the unit orders us before
     * it, and READY=1 comes after this. */
    gst_init (NULL, NULL);
    if (write_provider_config (l.cfg, pcfg, pcfg->provider_config) != 0)
      LOG_WARN ("the provider config %s is not up to date; nova-compute "
          "keeps what it read", pcfg->provider_config);
  }
  osvdi_placement_config_free (pcfg);

  l.lc = osvdi_libvirt_conn_new (l.cfg->uri, &error);
  if (!l.lc) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    return 2;
  }
  l.loop = g_main_loop_new (NULL, FALSE);
  l.sup = osvdi_supervisor_new (l.cfg, l.lc, on_sessions_gone, &l);
  g_unix_signal_add (SIGTERM, on_terminate, &l);
  g_unix_signal_add (SIGINT, on_terminate, &l);

  LOG_INFO ("config %s, flavors %s, state %s, SPICE %s ports %d-%d",
      config_path, l.cfg->flavors_dir, l.cfg->state_dir, l.cfg->address,
      l.cfg->port_min, l.cfg->port_max);
  console = osvdi_launcher_config_describe_console (l.cfg);
  LOG_INFO ("%s", console);
  g_free (console);
  osvdi_libvirt_conn_start (l.lc, &osvdi_supervisor_events, l.sup);
  sd_notify_msg ("READY=1");
  g_main_loop_run (l.loop);

  LOG_INFO ("stopped");
  if (l.quit_source)
    g_source_remove (l.quit_source);
  if (osvdi_libvirt_conn_stop (l.lc, 5000)) {
    osvdi_supervisor_free (l.sup);
    osvdi_libvirt_conn_free (l.lc);
  } else {
    /* Its thread may still use them when libvirt answers. */
    LOG_WARN ("libvirt did not answer; leaving the connection behind");
    osvdi_supervisor_free (l.sup);
  }
  g_main_loop_unref (l.loop);
  osvdi_launcher_config_free (l.cfg);
  g_free (config_path);
  return 0;
}
