/* OSVDI - osvdi-launcher: one transport pipeline per VM with a mediated GPU
 * SPDX-License-Identifier: Apache-2.0
 *
 * Follows libvirt's domain lifecycle events; every running domain with an
 * mdev display or QEMU's D-Bus display (<graphics type='dbus' p2p='yes'/>,
 * handed to the child as fd 5 from virDomainOpenGraphicsFD) gets a child
 * process (osvdi-pipeline) running its flavor's
 * pipeline, a SPICE port from the configured range and a fresh ticket. The
 * connection details are published in the domain's metadata (without the
 * ticket) and in a 0600 .vv file per domain (with it).
 *
 * Threads: libvirt's event loop runs on a thread of its own; its callbacks
 * only hand the event to the GLib main loop, which does all the work.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "domain.h"
#include "launcherconfig.h"
#include "osvdinet.h"
#include "osvdi-libvirt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define OSVDI_METADATA_NS "https://opendev.org/osvdi/xmlns/libvirt/1.0"
#define OSVDI_METADATA_PREFIX "osvdi"
#define RECONNECT_MAX_MS 30000

typedef struct _Launcher Launcher;

typedef enum
{
  SESSION_STARTING,
  SESSION_RUNNING,
  SESSION_BACKOFF,
  SESSION_FAILED,               /* gave up */
  SESSION_STOPPING,
} SessionState;

typedef struct
{
  Launcher *launcher;
  OsvdiDomainInfo *info;
  gchar *flavor_file;
  gchar *pipeline;
  gboolean display_fd;          /* hand QEMU's D-Bus display over as fd 5 */
  gint port, tls_port;
  gchar *ticket;
  gint64 ticket_expiry;         /* unix time, 0: none */
  SessionState state;
  GSubprocess *proc;
  GCancellable *cancel;         /* cancelled when the session goes away */
  gint64 started_at;
  guint failures;
  guint backoff_ms;
  guint restart_source;
  guint kill_source;
  /* The VM started again while its old pipeline was stopping (a hard
   * reboot): start a new session once the old child is gone. */
  gboolean restart_pending;
} Session;

struct _Launcher
{
  OsvdiLauncherConfig *cfg;
  GMainLoop *loop;
  virConnectPtr conn;
  gint lifecycle_id;
  guint reconnect_source;
  guint reconnect_ms;
  GHashTable *sessions;         /* domain uuid -> Session */
  GHashTable *ports;            /* port -> domain uuid (borrowed) */
  GHashTable *skipped;          /* domain uuid -> reason, logged once */
  gboolean stopping;
  guint quit_source;
};

static void
log_line (const gchar * level, const gchar * fmt, ...) G_GNUC_PRINTF (2, 3);

static void
log_line (const gchar * level, const gchar * fmt, ...)
{
  va_list ap;
  gchar *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* stderr goes to the journal under systemd: one line per event. */
  g_printerr ("osvdi-launcher: %s: %s\n", level, msg);
  g_free (msg);
}

#define LOG_INFO(...) log_line ("info", __VA_ARGS__)
#define LOG_WARN(...) log_line ("warning", __VA_ARGS__)
#define LOG_ERROR(...) log_line ("error", __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* systemd                                                                  */

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

/* ------------------------------------------------------------------------ */
/* Ports, tickets, publication                                              */

/* The lowest port of the range that no session holds and nobody listens
 * on; 0 when the range is exhausted. */
static gint
port_alloc (Launcher * l, gint min, gint max, const gchar * uuid)
{
  gint port;

  for (port = min; port > 0 && port <= max; port++) {
    if (g_hash_table_contains (l->ports, GINT_TO_POINTER (port)))
      continue;
    if (osvdi_tcp_port_in_use (l->cfg->address, port))
      continue;
    g_hash_table_insert (l->ports, GINT_TO_POINTER (port), (gpointer) uuid);
    return port;
  }
  return 0;
}

static void
port_free (Launcher * l, gint port)
{
  if (port > 0)
    g_hash_table_remove (l->ports, GINT_TO_POINTER (port));
}

/* NULL when the kernel gives no randomness: that session fails, the
 * others go on. */
static gchar *
ticket_new (void)
{
  guint8 raw[18];
  gchar *b64, *p;

  if (getrandom (raw, sizeof (raw), 0) != sizeof (raw)) {
    LOG_ERROR ("getrandom: %s", g_strerror (errno));
    return NULL;
  }
  b64 = g_base64_encode (raw, sizeof (raw));
  memset (raw, 0, sizeof (raw));
  /* URL-safe: no '/' or '+' for .vv files and URIs. */
  for (p = b64; *p; p++) {
    if (*p == '/')
      *p = '_';
    else if (*p == '+')
      *p = '-';
  }
  return b64;
}

static gchar *
vv_path (Launcher * l, const gchar * uuid)
{
  gchar *name = g_strdup_printf ("%s.vv", uuid);
  gchar *path = g_build_filename (l->cfg->state_dir, name, NULL);

  g_free (name);
  return path;
}

static void
write_vv (Session * s)
{
  Launcher *l = s->launcher;
  GString *vv = g_string_new ("[virt-viewer]\ntype=spice\n");
  gchar *path = vv_path (l, s->info->uuid);
  GError *error = NULL;

  g_string_append_printf (vv, "host=%s\n", l->cfg->public_host);
  if (s->port)
    g_string_append_printf (vv, "port=%d\n", s->port);
  if (s->tls_port) {
    gchar *ca_path = g_build_filename (l->cfg->x509_dir, "ca-cert.pem", NULL);
    gchar *ca = NULL;

    g_string_append_printf (vv, "tls-port=%d\n", s->tls_port);
    if (g_file_get_contents (ca_path, &ca, NULL, NULL)) {
      gchar *escaped = g_strescape (ca, NULL);

      g_string_append_printf (vv, "ca=%s\n", escaped);
      g_free (escaped);
    }
    g_free (ca);
    g_free (ca_path);
  }
  g_string_append_printf (vv, "password=%s\ntitle=%s\ndelete-this-file=0\n",
      s->ticket, s->info->instance_name ? s->info->instance_name :
      s->info->name);
  /* 0600 from the start: the ticket is in it. */
  if (!g_file_set_contents_full (path, vv->str, vv->len,
          G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error)) {
    LOG_ERROR ("%s: cannot write %s: %s", s->info->uuid, path,
        error->message);
    g_clear_error (&error);
  }
  memset (vv->str, 0, vv->len);
  g_string_free (vv, TRUE);
  g_free (path);
}

static void
remove_vv (Launcher * l, const gchar * uuid)
{
  gchar *path = vv_path (l, uuid);

  if (g_unlink (path) < 0 && errno != ENOENT)
    LOG_WARN ("%s: cannot remove %s: %s", uuid, path, g_strerror (errno));
  g_free (path);
}

static void
publish_metadata (Session * s, gboolean remove)
{
  Launcher *l = s->launcher;
  virDomainPtr dom;
  gchar *xml = NULL;

  if (!l->conn)
    return;
  dom = virDomainLookupByUUIDString (l->conn, s->info->uuid);
  if (!dom)
    return;
  if (!remove) {
    GString *x = g_string_new ("<spice");

    g_string_append_printf (x, " host='%s' address='%s'", l->cfg->public_host,
        l->cfg->address);
    if (s->port)
      g_string_append_printf (x, " port='%d'", s->port);
    if (s->tls_port)
      g_string_append_printf (x, " tls-port='%d'", s->tls_port);
    if (s->ticket_expiry) {
      GDateTime *dt = g_date_time_new_from_unix_utc (s->ticket_expiry);
      gchar *iso = g_date_time_format_iso8601 (dt);

      g_string_append_printf (x, " ticket-expiry='%s'", iso);
      g_free (iso);
      g_date_time_unref (dt);
    }
    g_string_append (x, "/>");
    xml = g_string_free (x, FALSE);
  }
  if (virDomainSetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
          remove ? NULL : OSVDI_METADATA_PREFIX, OSVDI_METADATA_NS,
          VIR_DOMAIN_AFFECT_LIVE) < 0)
    LOG_WARN ("%s: cannot publish the connection details in the domain's "
        "metadata: %s", s->info->uuid, virGetLastErrorMessage ());
  g_free (xml);
  virDomainFree (dom);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */

static void session_spawn (Session * s);

static void
session_free (Session * s)
{
  Launcher *l = s->launcher;

  g_cancellable_cancel (s->cancel);
  g_clear_object (&s->cancel);
  if (s->restart_source)
    g_source_remove (s->restart_source);
  if (s->kill_source)
    g_source_remove (s->kill_source);
  g_clear_object (&s->proc);
  port_free (l, s->port);
  port_free (l, s->tls_port);
  if (s->ticket)
    memset (s->ticket, 0, strlen (s->ticket));
  g_free (s->ticket);
  g_free (s->pipeline);
  g_free (s->flavor_file);
  osvdi_domain_info_free (s->info);
  g_free (s);
}

static void
maybe_quit (Launcher * l)
{
  GHashTableIter it;
  Session *s;

  if (!l->stopping)
    return;
  g_hash_table_iter_init (&it, l->sessions);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & s))
    if (s->proc)
      return;
  g_main_loop_quit (l->loop);
}

/* The session is over: files and ports go, the object goes. */
static void
session_remove (Session * s)
{
  Launcher *l = s->launcher;

  remove_vv (l, s->info->uuid);
  g_hash_table_remove (l->sessions, s->info->uuid);
  maybe_quit (l);
}

static gboolean
on_restart (gpointer data)
{
  Session *s = data;

  s->restart_source = 0;
  session_spawn (s);
  return G_SOURCE_REMOVE;
}

/* The pipeline ended (or never started) while its VM runs: restart it after
 * a growing delay, or give up after max-restarts quick failures in a row. */
static void
session_failed (Session * s, const gchar * how)
{
  Launcher *l = s->launcher;
  gint64 ran_s = (g_get_monotonic_time () - s->started_at) / G_USEC_PER_SEC;

  if (ran_s >= l->cfg->stable_seconds) {
    s->failures = 0;
    s->backoff_ms = l->cfg->backoff_initial_ms;
  }
  s->failures++;
  if (s->failures > l->cfg->max_restarts) {
    LOG_ERROR ("%s: pipeline %s; giving up after %u restarts (VM %s stays "
        "without a desktop session until it restarts or the launcher does)",
        s->info->uuid, how, l->cfg->max_restarts, s->info->name);
    s->state = SESSION_FAILED;
    remove_vv (l, s->info->uuid);
    publish_metadata (s, TRUE);
    port_free (l, s->port);
    port_free (l, s->tls_port);
    s->port = s->tls_port = 0;
    return;
  }
  LOG_WARN ("%s: pipeline %s after %" G_GINT64_FORMAT " s; restart %u of %u "
      "in %u ms", s->info->uuid, how, ran_s, s->failures,
      l->cfg->max_restarts, s->backoff_ms);
  s->state = SESSION_BACKOFF;
  s->restart_source = g_timeout_add (s->backoff_ms, on_restart, s);
  s->backoff_ms = MIN (s->backoff_ms * 2, l->cfg->backoff_max_ms);
}

static void session_stop (Session * s, const gchar * why);
static void session_ensure (Launcher * l, virDomainPtr dom);

/* TRUE when libvirt says the domain is not running any more (its STOPPED
 * event may come after the pipeline noticed). */
static gboolean
domain_gone (Launcher * l, const gchar * uuid)
{
  virDomainPtr dom;
  gboolean gone;

  if (!l->conn)
    return FALSE;
  dom = virDomainLookupByUUIDString (l->conn, uuid);
  if (!dom)
    return virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
  gone = virDomainIsActive (dom) == 0;
  virDomainFree (dom);
  return gone;
}

static void
on_child_exit (GObject * source, GAsyncResult * res, gpointer data)
{
  GSubprocess *proc = G_SUBPROCESS (source);
  GError *error = NULL;
  Session *s = data;
  Launcher *l;
  gchar *how;

  if (!g_subprocess_wait_finish (proc, res, &error)) {
    /* Cancelled: the session is gone already; do not touch it. */
    g_clear_error (&error);
    return;
  }
  l = s->launcher;
  if (s->kill_source) {
    g_source_remove (s->kill_source);
    s->kill_source = 0;
  }
  how = g_subprocess_get_if_signaled (proc)
      ? g_strdup_printf ("was killed by signal %d",
      g_subprocess_get_term_sig (proc))
      : g_strdup_printf ("exited with status %d",
      g_subprocess_get_exit_status (proc));
  g_clear_object (&s->proc);

  if (s->state == SESSION_STOPPING || l->stopping) {
    gboolean again = s->restart_pending && !l->stopping;
    gchar *uuid = g_strdup (s->info->uuid);

    LOG_INFO ("%s: pipeline stopped (%s)", uuid, how);
    g_free (how);
    session_remove (s);
    if (again && l->conn) {
      virDomainPtr dom = virDomainLookupByUUIDString (l->conn, uuid);

      LOG_INFO ("%s: the VM started again meanwhile: new session", uuid);
      if (dom) {
        session_ensure (l, dom);
        virDomainFree (dom);
      }
    }
    g_free (uuid);
    return;
  }

  /* A VM that shut down ends its display connection, and so the pipeline:
   * nothing to restart. */
  if (s->display_fd && domain_gone (l, s->info->uuid)) {
    LOG_INFO ("%s: pipeline %s: its VM is no longer running", s->info->uuid,
        how);
    g_free (how);
    session_stop (s, "the VM stopped");
    return;
  }
  session_failed (s, how);
  g_free (how);
}

static void
on_status_line (GObject * source, GAsyncResult * res, gpointer data)
{
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  GError *error = NULL;
  gchar *line = g_data_input_stream_read_line_finish_utf8 (in, res, NULL,
      &error);
  Session *s = data;

  if (!line) {
    /* EOF (the child is gone) or cancelled: stop reading. */
    g_clear_error (&error);
    g_object_unref (in);
    return;
  }
  if (g_str_equal (line, "playing")) {
    /* Only a starting session becomes running: a stop asked for meanwhile
     * stands. */
    if (s->state == SESSION_STARTING)
      s->state = SESSION_RUNNING;
    LOG_INFO ("%s: pipeline playing (SPICE port %d)", s->info->uuid,
        s->port);
  } else if (g_str_has_prefix (line, "error ")) {
    LOG_ERROR ("%s: pipeline: %s", s->info->uuid, line + 6);
  } else {
    LOG_INFO ("%s: pipeline: %s", s->info->uuid, line);
  }
  g_free (line);
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, s->cancel,
      on_status_line, s);
}

static void
child_setup (gpointer data)
{
  /* A launcher that dies (even by SIGKILL) takes its pipelines along: a
   * restarted launcher then starts exactly one per VM. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
session_spawn (Session * s)
{
  Launcher *l = s->launcher;
  GSubprocessLauncher *sl;
  GError *error = NULL;
  int ticket_pipe[2], status_pipe[2];
  GDataInputStream *status;
  gchar *line;
  gsize len;

  if (pipe2 (ticket_pipe, O_CLOEXEC) < 0) {
    gchar *how = g_strdup_printf ("could not be started: pipe2: %s",
        g_strerror (errno));

    s->started_at = g_get_monotonic_time ();
    session_failed (s, how);
    g_free (how);
    return;
  }
  if (pipe2 (status_pipe, O_CLOEXEC) < 0) {
    gchar *how = g_strdup_printf ("could not be started: pipe2: %s",
        g_strerror (errno));

    close (ticket_pipe[0]);
    close (ticket_pipe[1]);
    s->started_at = g_get_monotonic_time ();
    session_failed (s, how);
    g_free (how);
    return;
  }
  /* The ticket fits the pipe's buffer: write it all now, close our end. */
  line = g_strdup_printf ("%s\n", s->ticket);
  len = strlen (line);
  if (write (ticket_pipe[1], line, len) != (ssize_t) len)
    LOG_ERROR ("%s: cannot pass the ticket: %s", s->info->uuid,
        g_strerror (errno));
  memset (line, 0, len);
  g_free (line);
  close (ticket_pipe[1]);

  sl = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (sl, ticket_pipe[0], 3);
  g_subprocess_launcher_take_fd (sl, status_pipe[1], 4);
  if (s->display_fd) {
    /* A fresh connection to QEMU's display for every start: QEMU serves
     * one client at a time, and a restarted pipeline needs a new one. */
    virDomainPtr dom = l->conn ? virDomainLookupByUUIDString (l->conn,
        s->info->uuid) : NULL;
    gint fd = dom ? osvdi_libvirt_open_dbus_display (dom, &error) : -1;

    if (fd < 0) {
      const gchar *why = error ? error->message : virGetLastErrorMessage ();
      gchar *how = g_strdup_printf ("could not be started: no D-Bus display "
          "connection from libvirt (%s)", why);

      LOG_ERROR ("%s: %s", s->info->uuid, why);
      g_clear_error (&error);
      if (dom)
        virDomainFree (dom);
      g_object_unref (sl);
      close (status_pipe[0]);
      s->started_at = g_get_monotonic_time ();
      session_failed (s, how);
      g_free (how);
      return;
    }
    virDomainFree (dom);
    g_subprocess_launcher_take_fd (sl, fd, 5);
  }
  g_subprocess_launcher_set_child_setup (sl, child_setup, NULL, NULL);
  s->proc = g_subprocess_launcher_spawn (sl, &error, l->cfg->runner,
      "--domain", s->info->uuid, "--ticket-fd", "3", "--status-fd", "4",
      s->pipeline, NULL);
  g_object_unref (sl);
  if (!s->proc) {
    LOG_ERROR ("%s: cannot start %s: %s", s->info->uuid, l->cfg->runner,
        error->message);
    g_clear_error (&error);
    close (status_pipe[0]);
    /* Same path as a crash: backoff, then give up. */
    s->started_at = g_get_monotonic_time ();
    session_failed (s, "could not be started");
    return;
  }
  s->state = SESSION_STARTING;
  s->started_at = g_get_monotonic_time ();
  LOG_INFO ("%s: started pipeline pid %s for %s (flavor file %s, SPICE "
      "port %d%s)", s->info->uuid, g_subprocess_get_identifier (s->proc),
      s->info->name, s->flavor_file, s->port,
      s->tls_port ? ", TLS" : "");
  status = g_data_input_stream_new (g_unix_input_stream_new (status_pipe[0],
          TRUE));
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (status),
      TRUE);
  g_object_unref (g_filter_input_stream_get_base_stream
      (G_FILTER_INPUT_STREAM (status)));
  g_data_input_stream_read_line_async (status, G_PRIORITY_DEFAULT, s->cancel,
      on_status_line, s);
  g_subprocess_wait_async (s->proc, s->cancel, on_child_exit, s);
}

static gboolean
on_kill_timeout (gpointer data)
{
  Session *s = data;

  s->kill_source = 0;
  if (s->proc) {
    LOG_WARN ("%s: pipeline did not stop in time; killing it",
        s->info->uuid);
    g_subprocess_force_exit (s->proc);
  }
  return G_SOURCE_REMOVE;
}

static void
session_stop (Session * s, const gchar * why)
{
  Launcher *l = s->launcher;

  if (s->state == SESSION_STOPPING)
    return;
  LOG_INFO ("%s: stopping the pipeline (%s)", s->info->uuid, why);
  s->state = SESSION_STOPPING;
  if (s->restart_source) {
    g_source_remove (s->restart_source);
    s->restart_source = 0;
  }
  remove_vv (l, s->info->uuid);
  /* Nobody serves the published port any more. */
  publish_metadata (s, TRUE);
  if (!s->proc) {
    session_remove (s);
    return;
  }
  /* The runner sends EOS on SIGTERM; the port is freed when it is gone. */
  g_subprocess_send_signal (s->proc, SIGTERM);
  s->kill_source = g_timeout_add (l->cfg->stop_timeout_ms, on_kill_timeout,
      s);
}

static void
skip_domain (Launcher * l, const gchar * uuid, const gchar * reason)
{
  const gchar *old = g_hash_table_lookup (l->skipped, uuid);

  if (old && g_str_equal (old, reason))
    return;                     /* logged once */
  LOG_INFO ("%s: no pipeline: %s", uuid, reason);
  g_hash_table_insert (l->skipped, g_strdup (uuid), g_strdup (reason));
}

static gboolean
flavor_name_ok (const gchar * name)
{
  return name && *name && name[0] != '.' && !strchr (name, '/');
}

static void
session_ensure (Launcher * l, virDomainPtr dom)
{
  char uuid[VIR_UUID_STRING_BUFLEN];
  g_autoptr (OsvdiDomainInfo) info = NULL;
  g_autoptr (GHashTable) vars = NULL;
  GError *error = NULL;
  gchar *xml, *flavor_file = NULL, *tmpl = NULL, *pipeline = NULL;
  gchar port_s[16], tls_s[16], life_s[16];
  Session *s;

  if (virDomainGetUUIDString (dom, uuid) < 0)
    return;
  s = g_hash_table_lookup (l->sessions, uuid);
  if (s) {
    /* One per VM, whatever its state; a stopping one hands over to a new
     * one when its child is gone (on_child_exit). */
    if (s->state == SESSION_STOPPING)
      s->restart_pending = TRUE;
    return;
  }

  xml = virDomainGetXMLDesc (dom, 0);
  if (!xml) {
    LOG_WARN ("%s: cannot read the domain XML: %s", uuid,
        virGetLastErrorMessage ());
    return;
  }
  info = osvdi_domain_info_parse (xml, &error);
  free (xml);
  if (!info) {
    LOG_WARN ("%s: %s", uuid, error->message);
    g_clear_error (&error);
    return;
  }
  if (!info->mdev_uuid && !info->dbus_display) {
    skip_domain (l, uuid, "it has neither a mediated device with "
        "display='on' nor a D-Bus display (<graphics type='dbus' "
        "p2p='yes'/>)");
    return;
  }

  /* The flavor's file, or default.conf. */
  if (flavor_name_ok (info->flavor)) {
    gchar *name = g_strdup_printf ("%s.conf", info->flavor);

    flavor_file = g_build_filename (l->cfg->flavors_dir, name, NULL);
    g_free (name);
    if (!g_file_test (flavor_file, G_FILE_TEST_EXISTS)) {
      LOG_INFO ("%s: flavor \"%s\" has no %s; using default.conf", uuid,
          info->flavor, flavor_file);
      g_clear_pointer (&flavor_file, g_free);
    }
  } else {
    LOG_INFO ("%s: no usable Nova flavor name; using default.conf", uuid);
  }
  if (!flavor_file)
    flavor_file = g_build_filename (l->cfg->flavors_dir, "default.conf", NULL);
  tmpl = osvdi_flavor_load (flavor_file, &error);
  if (!tmpl) {
    gchar *reason = g_strdup_printf ("broken flavor file: %s",
        error->message);

    LOG_ERROR ("%s: VM %s gets no desktop session: %s", uuid, info->name,
        error->message);
    g_hash_table_insert (l->skipped, g_strdup (uuid), reason);
    g_clear_error (&error);
    g_free (flavor_file);
    return;
  }

  /* What the flavor reads from the VM must be there. */
  {
    const gchar *missing = NULL;

    if (strstr (tmpl, "${MDEV_UUID}") && !info->mdev_uuid)
      missing = "${MDEV_UUID}, but the VM has no mediated device with "
          "display='on'";
    else if (strstr (tmpl, "${QEMU_DISPLAY_FD}") && !info->dbus_display)
      missing = "${QEMU_DISPLAY_FD}, but the VM has no D-Bus display "
          "(<graphics type='dbus' p2p='yes'/>)";
    if (missing) {
      gchar *reason = g_strdup_printf ("%s uses %s", flavor_file, missing);

      skip_domain (l, uuid, reason);
      g_free (reason);
      g_free (tmpl);
      g_free (flavor_file);
      return;
    }
  }

  s = g_new0 (Session, 1);
  s->launcher = l;
  s->display_fd = strstr (tmpl, "${QEMU_DISPLAY_FD}") != NULL;
  s->cancel = g_cancellable_new ();
  s->backoff_ms = l->cfg->backoff_initial_ms;
  s->flavor_file = flavor_file;
  s->info = g_steal_pointer (&info);
  g_hash_table_insert (l->sessions, s->info->uuid, s);
  g_hash_table_remove (l->skipped, s->info->uuid);

  s->port = port_alloc (l, l->cfg->port_min, l->cfg->port_max,
      s->info->uuid);
  if (l->cfg->tls_port_min)
    s->tls_port = port_alloc (l, l->cfg->tls_port_min, l->cfg->tls_port_max,
        s->info->uuid);
  if (!s->port || (l->cfg->tls_port_min && !s->tls_port)) {
    LOG_ERROR ("%s: no free SPICE port in %d-%d: VM %s gets no desktop "
        "session", s->info->uuid, l->cfg->port_min, l->cfg->port_max,
        s->info->name);
    s->state = SESSION_FAILED;
    g_free (tmpl);
    return;
  }
  s->ticket = ticket_new ();
  if (!s->ticket) {
    LOG_ERROR ("%s: no ticket: VM %s gets no desktop session",
        s->info->uuid, s->info->name);
    s->state = SESSION_FAILED;
    port_free (l, s->port);
    port_free (l, s->tls_port);
    s->port = s->tls_port = 0;
    g_free (tmpl);
    return;
  }
  if (l->cfg->ticket_lifetime)
    s->ticket_expiry = g_get_real_time () / G_USEC_PER_SEC
        + l->cfg->ticket_lifetime;

  vars = g_hash_table_new (g_str_hash, g_str_equal);
  g_snprintf (port_s, sizeof (port_s), "%d", s->port);
  g_snprintf (tls_s, sizeof (tls_s), "%d", s->tls_port);
  g_snprintf (life_s, sizeof (life_s), "%u", l->cfg->ticket_lifetime);
  g_hash_table_insert (vars, "MDEV_UUID", s->info->mdev_uuid ?
      s->info->mdev_uuid : "");
  /* The runner finds QEMU's display connection there (session_spawn). */
  g_hash_table_insert (vars, "QEMU_DISPLAY_FD", "5");
  g_hash_table_insert (vars, "DOMAIN_UUID", s->info->uuid);
  g_hash_table_insert (vars, "DOMAIN_NAME", s->info->name);
  g_hash_table_insert (vars, "INSTANCE_NAME", s->info->instance_name ?
      s->info->instance_name : s->info->name);
  g_hash_table_insert (vars, "FLAVOR", s->info->flavor ? s->info->flavor :
      "default");
  g_hash_table_insert (vars, "OWNER_USER", s->info->owner_user ?
      s->info->owner_user : "");
  g_hash_table_insert (vars, "OWNER_PROJECT", s->info->owner_project ?
      s->info->owner_project : "");
  g_hash_table_insert (vars, "SPICE_ADDRESS", l->cfg->address);
  g_hash_table_insert (vars, "SPICE_PORT", port_s);
  g_hash_table_insert (vars, "SPICE_TLS_PORT", tls_s);
  g_hash_table_insert (vars, "SPICE_X509_DIR", l->cfg->x509_dir ?
      l->cfg->x509_dir : "");
  g_hash_table_insert (vars, "TICKET_LIFETIME", life_s);
  pipeline = osvdi_template_expand (tmpl, vars, &error);
  g_free (tmpl);
  if (!pipeline) {
    LOG_ERROR ("%s: VM %s gets no desktop session: %s: %s", s->info->uuid,
        s->info->name, s->flavor_file, error->message);
    g_clear_error (&error);
    s->state = SESSION_FAILED;
    port_free (l, s->port);
    port_free (l, s->tls_port);
    s->port = s->tls_port = 0;
    return;
  }
  s->pipeline = pipeline;

  write_vv (s);
  publish_metadata (s, FALSE);
  session_spawn (s);
}

/* ------------------------------------------------------------------------ */
/* libvirt                                                                  */

typedef struct
{
  Launcher *launcher;
  gchar *uuid;
  gint event;
} DomainEvent;

static void
domain_event_free (gpointer data)
{
  DomainEvent *ev = data;

  g_free (ev->uuid);
  g_free (ev);
}

static gboolean
handle_domain_event (gpointer data)
{
  DomainEvent *ev = data;
  Launcher *l = ev->launcher;
  Session *s;
  virDomainPtr dom;

  if (l->stopping || !l->conn)
    return G_SOURCE_REMOVE;
  switch (ev->event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
      dom = virDomainLookupByUUIDString (l->conn, ev->uuid);
      if (dom) {
        session_ensure (l, dom);
        virDomainFree (dom);
      }
      break;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_SHUTDOWN:
    case VIR_DOMAIN_EVENT_CRASHED:
      g_hash_table_remove (l->skipped, ev->uuid);
      s = g_hash_table_lookup (l->sessions, ev->uuid);
      if (s)
        s->restart_pending = FALSE;
      if (s)
        session_stop (s, ev->event == VIR_DOMAIN_EVENT_CRASHED ?
            "the VM crashed" : "the VM stopped");
      break;
    default:
      break;
  }
  return G_SOURCE_REMOVE;
}

/* libvirt's event thread: only hand over. */
static int
lifecycle_cb (virConnectPtr conn, virDomainPtr dom, int event, int detail,
    void *opaque)
{
  DomainEvent *ev = g_new0 (DomainEvent, 1);
  char uuid[VIR_UUID_STRING_BUFLEN];

  if (virDomainGetUUIDString (dom, uuid) < 0) {
    g_free (ev);
    return 0;
  }
  ev->launcher = opaque;
  ev->uuid = g_strdup (uuid);
  ev->event = event;
  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, handle_domain_event,
      ev, domain_event_free);
  return 0;
}

static void connect_libvirt (Launcher * l);

static gboolean
on_reconnect (gpointer data)
{
  Launcher *l = data;

  l->reconnect_source = 0;
  connect_libvirt (l);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (Launcher * l)
{
  if (l->stopping || l->reconnect_source)
    return;
  LOG_INFO ("reconnecting to %s in %u ms", l->cfg->uri, l->reconnect_ms);
  l->reconnect_source = g_timeout_add (l->reconnect_ms, on_reconnect, l);
  l->reconnect_ms = MIN (l->reconnect_ms * 2, RECONNECT_MAX_MS);
}

static void close_cb (virConnectPtr conn, int reason, void *opaque);

static gboolean
handle_connection_closed (gpointer data)
{
  Launcher *l = data;

  if (!l->conn)
    return G_SOURCE_REMOVE;
  LOG_WARN ("lost the connection to %s", l->cfg->uri);
  /* Event callbacks of a dead connection cannot be deregistered; closing
   * releases them. */
  /* The callback holds a connection reference; it must be named to be
   * unregistered (NULL is refused). A dead connection is skipped: the
   * unregister is an RPC there, and it hung the main loop in
   * test_09_libvirtd_restart_reconnects. */
  if (virConnectIsAlive (l->conn) == 1
      && virConnectUnregisterCloseCallback (l->conn, close_cb) < 0)
    LOG_WARN ("cannot unregister the close callback: %s",
        virGetLastErrorMessage ());
  virConnectClose (l->conn);
  l->conn = NULL;
  l->lifecycle_id = -1;
  schedule_reconnect (l);
  return G_SOURCE_REMOVE;
}

static void
close_cb (virConnectPtr conn, int reason, void *opaque)
{
  g_main_context_invoke (NULL, handle_connection_closed, opaque);
}

/* Running VMs that need a pipeline get one; pipelines of VMs that are gone
 * stop. */
static void
reconcile (Launcher * l)
{
  virDomainPtr *doms = NULL;
  GHashTable *running = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, NULL);
  GHashTableIter it;
  Session *s;
  gint n, i;
  GList *gone = NULL, *g;

  n = virConnectListAllDomains (l->conn, &doms,
      VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0) {
    LOG_WARN ("cannot list domains: %s", virGetLastErrorMessage ());
    g_hash_table_unref (running);
    return;
  }
  for (i = 0; i < n; i++) {
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (virDomainGetUUIDString (doms[i], uuid) == 0)
      g_hash_table_add (running, g_strdup (uuid));
    session_ensure (l, doms[i]);
    virDomainFree (doms[i]);
  }
  free (doms);

  g_hash_table_iter_init (&it, l->sessions);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & s))
    if (!g_hash_table_contains (running, s->info->uuid))
      gone = g_list_prepend (gone, s);
  for (g = gone; g; g = g->next)
    session_stop (g->data, "the VM is no longer running");
  g_list_free (gone);
  g_hash_table_unref (running);
  LOG_INFO ("reconciled: %d running domains, %u sessions", n,
      g_hash_table_size (l->sessions));
}

static void
connect_libvirt (Launcher * l)
{
  l->conn = virConnectOpen (l->cfg->uri);
  if (!l->conn) {
    LOG_WARN ("cannot connect to %s: %s", l->cfg->uri,
        virGetLastErrorMessage ());
    schedule_reconnect (l);
    return;
  }
  l->reconnect_ms = 500;
  if (virConnectSetKeepAlive (l->conn, 5, 3) < 0)
    LOG_WARN ("no keepalive on %s: %s", l->cfg->uri,
        virGetLastErrorMessage ());
  virConnectRegisterCloseCallback (l->conn, close_cb, l, NULL);
  l->lifecycle_id = virConnectDomainEventRegisterAny (l->conn, NULL,
      VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (lifecycle_cb),
      l, NULL);
  if (l->lifecycle_id < 0) {
    LOG_WARN ("cannot follow domain events on %s: %s", l->cfg->uri,
        virGetLastErrorMessage ());
    handle_connection_closed (l);
    return;
  }
  LOG_INFO ("connected to %s", l->cfg->uri);
  reconcile (l);
}

/* Set once at exit; a zero timeout then wakes the thread to see it. */
static gint libvirt_events_quit;

static gpointer
libvirt_event_thread (gpointer data)
{
  while (!g_atomic_int_get (&libvirt_events_quit))
    if (virEventRunDefaultImpl () < 0)
      LOG_WARN ("libvirt event loop: %s", virGetLastErrorMessage ());
  return NULL;
}

static void
libvirt_event_wake (int timer, void *opaque)
{
}

static void
silence_libvirt_errors (void *data, virErrorPtr err)
{
  /* Errors are reported where they matter, with virGetLastErrorMessage. */
}

/* ------------------------------------------------------------------------ */
/* Stop                                                                     */

static gboolean
on_quit_timeout (gpointer data)
{
  Launcher *l = data;

  LOG_WARN ("pipelines still running at exit; quitting anyway");
  g_main_loop_quit (l->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_terminate (gpointer data)
{
  Launcher *l = data;
  GHashTableIter it;
  Session *s;
  GList *all = NULL, *a;

  if (l->stopping)
    return G_SOURCE_CONTINUE;
  LOG_INFO ("stopping every pipeline");
  sd_notify_msg ("STOPPING=1");
  l->stopping = TRUE;
  g_hash_table_iter_init (&it, l->sessions);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & s))
    all = g_list_prepend (all, s);
  for (a = all; a; a = a->next)
    session_stop (a->data, "the launcher stops");
  g_list_free (all);
  l->quit_source = g_timeout_add (l->cfg->stop_timeout_ms + 2000,
      on_quit_timeout, l);
  maybe_quit (l);
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* --check-config                                                           */

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

static gint
check_config (OsvdiLauncherConfig * cfg, const gchar * config_path)
{
  GDir *dir;
  GError *error = NULL;
  const gchar *name;
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  gboolean bad = FALSE, have_default = FALSE;
  guint i;

  g_print ("%s: OK\n", config_path);
  dir = g_dir_open (cfg->flavors_dir, 0, &error);
  if (!dir) {
    g_print ("%s: ERROR: %s\n", cfg->flavors_dir, error->message);
    g_clear_error (&error);
    return 1;
  }
  while ((name = g_dir_read_name (dir)))
    if (g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (files, g_build_filename (cfg->flavors_dir, name,
              NULL));
  g_dir_close (dir);
  g_ptr_array_sort (files, compare_paths);

  for (i = 0; i < files->len; i++) {
    const gchar *path = g_ptr_array_index (files, i);
    gchar *tmpl = osvdi_flavor_load (path, &error), *pipeline;
    GHashTable *vars;
    GstParseContext *ctx;
    GstElement *e;
    gchar **missing;
    guint v;

    if (g_str_has_suffix (path, "/default.conf"))
      have_default = TRUE;
    if (!tmpl) {
      g_print ("%s: ERROR: %s\n", path, error->message);
      g_clear_error (&error);
      bad = TRUE;
      continue;
    }
    if (!strstr (tmpl, "${SPICE_PORT}") && !strstr (tmpl, "${SPICE_TLS_PORT}")) {
      g_print ("%s: ERROR: the pipeline uses neither ${SPICE_PORT} nor "
          "${SPICE_TLS_PORT}: every VM would get the same port\n", path);
      g_free (tmpl);
      bad = TRUE;
      continue;
    }
    /* Plausible values for every variable, then GStreamer's parser. */
    vars = g_hash_table_new (g_str_hash, g_str_equal);
    for (v = 0; osvdi_template_variables[v]; v++)
      g_hash_table_insert (vars, (gpointer) osvdi_template_variables[v],
          "00000000-0000-0000-0000-000000000000");
    g_hash_table_insert (vars, "SPICE_PORT", "5900");
    g_hash_table_insert (vars, "SPICE_TLS_PORT", "5901");
    g_hash_table_insert (vars, "TICKET_LIFETIME", "0");
    g_hash_table_insert (vars, "SPICE_ADDRESS", "127.0.0.1");
    g_hash_table_insert (vars, "SPICE_X509_DIR", "/etc/pki/osvdi");
    g_hash_table_insert (vars, "QEMU_DISPLAY_FD", "5");
    pipeline = osvdi_template_expand (tmpl, vars, &error);
    g_hash_table_unref (vars);
    g_free (tmpl);
    if (!pipeline) {
      g_print ("%s: ERROR: %s\n", path, error->message);
      g_clear_error (&error);
      bad = TRUE;
      continue;
    }
    ctx = gst_parse_context_new ();
    e = gst_parse_launch_full (pipeline, ctx, GST_PARSE_FLAG_NONE, &error);
    missing = gst_parse_context_get_missing_elements (ctx);
    if (error && g_error_matches (error, GST_PARSE_ERROR,
            GST_PARSE_ERROR_NO_SUCH_ELEMENT)) {
      gchar *list = g_strjoinv (", ", missing);

      /* Hardware encoders exist only on hosts with that GPU. */
      g_print ("%s: OK (not installed on this host: %s)\n", path,
          list && *list ? list : error->message);
      g_free (list);
    } else if (error) {
      g_print ("%s: ERROR: the pipeline does not parse: %s\n", path,
          error->message);
      bad = TRUE;
    } else {
      g_print ("%s: OK\n", path);
    }
    g_clear_error (&error);
    g_strfreev (missing);
    gst_parse_context_free (ctx);
    if (e)
      gst_object_unref (e);
    g_free (pipeline);
  }
  if (!have_default) {
    g_print ("%s: ERROR: no default.conf (used for VMs whose flavor has no "
        "file)\n", cfg->flavors_dir);
    bad = TRUE;
  }
  g_ptr_array_unref (files);
  return bad ? 1 : 0;
}

/* ------------------------------------------------------------------------ */

int
main (int argc, char **argv)
{
  gchar *uri = NULL, *config_path = NULL;
  gboolean check = FALSE;
  GOptionEntry entries[] = {
    {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
        "libvirt URI (default: launcher.conf's, else qemu:///system)", "URI"},
    {"config", 0, 0, G_OPTION_ARG_FILENAME, &config_path,
        "Configuration file (default " OSVDI_SYSCONFDIR "/launcher.conf)",
        "FILE"},
    {"check-config", 0, 0, G_OPTION_ARG_NONE, &check,
        "Validate launcher.conf and every flavor file, then exit", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- one OSVDI pipeline per VM");
  GError *error = NULL;
  Launcher l = {.lifecycle_id = -1,.reconnect_ms = 500 };
  gboolean explicit_config;
  GThread *event_thread;
  gint wake;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    return 2;
  }
  g_option_context_free (ctx);
  explicit_config = config_path != NULL;
  if (!config_path)
    config_path = g_build_filename (OSVDI_SYSCONFDIR, "launcher.conf", NULL);

  l.cfg = osvdi_launcher_config_load (config_path, !explicit_config, &error);
  if (!l.cfg) {
    g_printerr ("osvdi-launcher: %s\n", error->message);
    return check ? 1 : 2;
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

  if (check) {
    gint ret;

    gst_init (NULL, NULL);
    ret = check_config (l.cfg, config_path);
    osvdi_launcher_config_free (l.cfg);
    g_free (config_path);
    return ret;
  }

  if (g_mkdir_with_parents (l.cfg->state_dir, 0700) < 0) {
    g_printerr ("osvdi-launcher: cannot create %s: %s\n", l.cfg->state_dir,
        g_strerror (errno));
    return 2;
  }
  /* .vv files of an earlier run are stale: reconcile writes them anew. */
  {
    GDir *dir = g_dir_open (l.cfg->state_dir, 0, NULL);
    const gchar *name;

    while (dir && (name = g_dir_read_name (dir)))
      if (g_str_has_suffix (name, ".vv")) {
        gchar *p = g_build_filename (l.cfg->state_dir, name, NULL);

        g_unlink (p);
        g_free (p);
      }
    if (dir)
      g_dir_close (dir);
  }

  l.sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      (GDestroyNotify) session_free);
  l.ports = g_hash_table_new (NULL, NULL);
  l.skipped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  l.loop = g_main_loop_new (NULL, FALSE);

  virSetErrorFunc (NULL, silence_libvirt_errors);
  if (virEventRegisterDefaultImpl () < 0) {
    g_printerr ("osvdi-launcher: cannot set up libvirt's event loop\n");
    return 2;
  }
  event_thread = g_thread_new ("libvirt-events", libvirt_event_thread, NULL);
  g_unix_signal_add (SIGTERM, on_terminate, &l);
  g_unix_signal_add (SIGINT, on_terminate, &l);

  LOG_INFO ("config %s, flavors %s, state %s, SPICE %s ports %d-%d",
      config_path, l.cfg->flavors_dir, l.cfg->state_dir, l.cfg->address,
      l.cfg->port_min, l.cfg->port_max);
  connect_libvirt (&l);
  sd_notify_msg ("READY=1");
  g_main_loop_run (l.loop);

  LOG_INFO ("stopped");
  if (l.quit_source)
    g_source_remove (l.quit_source);
  if (l.reconnect_source)
    g_source_remove (l.reconnect_source);
  g_hash_table_destroy (l.sessions);
  if (l.conn) {
    if (l.lifecycle_id >= 0)
      virConnectDomainEventDeregisterAny (l.conn, l.lifecycle_id);
    virConnectUnregisterCloseCallback (l.conn, close_cb);
    virConnectClose (l.conn);
  }
  /* As libvirt's event-test.c: no callbacks left, then stop the loop. */
  g_atomic_int_set (&libvirt_events_quit, 1);
  wake = virEventAddTimeout (0, libvirt_event_wake, NULL, NULL);
  if (wake >= 0) {
    g_thread_join (event_thread);
    virEventRemoveTimeout (wake);
  } else {
    LOG_WARN ("cannot wake libvirt's event thread: %s",
        virGetLastErrorMessage ());
    g_thread_unref (event_thread);
  }
  g_hash_table_unref (l.ports);
  g_hash_table_unref (l.skipped);
  g_main_loop_unref (l.loop);
  osvdi_launcher_config_free (l.cfg);
  g_free (config_path);
  return 0;
}
