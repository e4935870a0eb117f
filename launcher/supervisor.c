/* OSVDI launcher - one session per VM: sets it up, carries out what its
 * state machine (session.h) decides: child processes, timers, ports
 * SPDX-License-Identifier: Apache-2.0
 *
 * Everything here runs on the main loop. libvirt is only reached through
 * jobs (libvirtconn.h), whose answers come back later: a session may have
 * changed or gone meanwhile, so answers name the session by UUID and
 * serial number.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "supervisor.h"
#include "domain.h"
#include "flavor.h"
#include "log.h"
#include "osvdinet.h"
#include "osvdi-libvirt.h"
#include "publish.h"
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <libvirt/virterror.h>

typedef struct
{
  OsvdiSupervisor *sup;
  guint64 serial;               /* unique in this run: answers find it */
  OsvdiSessionMachine m;
  OsvdiDomainInfo *info;
  gchar *flavor_file;
  gchar *pipeline;
  gboolean display_fd;          /* hand QEMU's D-Bus display over as fd 5 */
  gint port, tls_port;
  gchar *ticket;
  gint64 ticket_expiry;         /* unix time, 0: none */
  /* ticket-lifetime: our end of the running child's ticket pipe (-1: none)
   * and the timer that renews the ticket before it runs out. */
  gint ticket_fd;
  guint renew_source;
  GSubprocess *proc;
  GCancellable *cancel;         /* cancelled when the session goes away */
  guint restart_source;
  guint kill_source;
  /* A libvirt answer (a display connection, or whether the VM still runs)
   * is on its way; the session waits for it without a child. */
  gboolean awaiting_libvirt;
} Session;

struct _OsvdiSupervisor
{
  const OsvdiLauncherConfig *cfg;
  OsvdiLibvirtConn *lc;
  GHashTable *sessions;         /* domain uuid -> Session */
  GHashTable *ports;            /* port -> domain uuid (borrowed) */
  GHashTable *skipped;          /* domain uuid -> reason, logged once */
  guint64 next_serial;
  gboolean stopping;
  GSourceFunc all_gone;
  gpointer all_gone_data;
};

static void session_feed (Session * s, OsvdiSessionInput input,
    const gchar * why);

/* ------------------------------------------------------------------------ */
/* Ports and tickets                                                        */

/* The lowest port of the range that no session holds and nobody listens
 * on; 0 when the range is exhausted. */
static gint
port_alloc (OsvdiSupervisor * sup, gint min, gint max, const gchar * uuid)
{
  gint port;

  for (port = min; port > 0 && port <= max; port++) {
    if (g_hash_table_contains (sup->ports, GINT_TO_POINTER (port)))
      continue;
    if (osvdi_tcp_port_in_use (sup->cfg->address, port))
      continue;
    g_hash_table_insert (sup->ports, GINT_TO_POINTER (port), (gpointer) uuid);
    return port;
  }
  return 0;
}

static void
ports_release (Session * s)
{
  if (s->port > 0)
    g_hash_table_remove (s->sup->ports, GINT_TO_POINTER (s->port));
  if (s->tls_port > 0)
    g_hash_table_remove (s->sup->ports, GINT_TO_POINTER (s->tls_port));
  s->port = s->tls_port = 0;
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

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */

static void
session_free (Session * s)
{
  g_cancellable_cancel (s->cancel);
  g_clear_object (&s->cancel);
  if (s->restart_source)
    g_source_remove (s->restart_source);
  if (s->kill_source)
    g_source_remove (s->kill_source);
  if (s->renew_source)
    g_source_remove (s->renew_source);
  if (s->ticket_fd >= 0)
    close (s->ticket_fd);
  g_clear_object (&s->proc);
  ports_release (s);
  if (s->ticket)
    memset (s->ticket, 0, strlen (s->ticket));
  g_free (s->ticket);
  g_free (s->pipeline);
  g_free (s->flavor_file);
  osvdi_domain_info_free (s->info);
  g_free (s);
}

static Session *
session_find (OsvdiSupervisor * sup, const gchar * uuid, guint64 serial)
{
  Session *s = g_hash_table_lookup (sup->sessions, uuid);

  return s && s->serial == serial ? s : NULL;
}

static void
maybe_all_gone (OsvdiSupervisor * sup)
{
  if (sup->stopping && sup->all_gone
      && g_hash_table_size (sup->sessions) == 0) {
    GSourceFunc all_gone = sup->all_gone;

    sup->all_gone = NULL;
    all_gone (sup->all_gone_data);
  }
}

static void
publish (Session * s)
{
  OsvdiPublication p = {.info = s->info,.port = s->port,
    .tls_port = s->tls_port,.ticket = s->ticket,
    .ticket_expiry = s->ticket_expiry
  };
  gchar *xml;

  osvdi_publish_vv (s->sup->cfg, &p);
  xml = osvdi_publish_metadata_xml (s->sup->cfg, &p);
  osvdi_publish_metadata (s->sup->lc, s->info->uuid, xml);
  g_free (xml);
}

static gboolean
on_restart (gpointer data)
{
  Session *s = data;

  s->restart_source = 0;
  session_feed (s, OSVDI_SESSION_RESTART_TIMER, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
on_kill_timeout (gpointer data)
{
  Session *s = data;

  s->kill_source = 0;
  session_feed (s, OSVDI_SESSION_KILL_TIMER, NULL);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* The child                                                                */

static void session_exited (Session * s, const gchar * how);

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
    LOG_INFO ("%s: pipeline playing (SPICE port %d)", s->info->uuid,
        s->port);
    session_feed (s, OSVDI_SESSION_CHILD_PLAYING, NULL);
  } else if (g_str_equal (line, "ticket")) {
    /* The sink has the renewed ticket: now it goes to the .vv file and
     * the metadata (before, a client could read a ticket not yet valid). */
    LOG_INFO ("%s: renewed ticket in use, valid for %u s", s->info->uuid,
        s->sup->cfg->ticket_lifetime);
    if (s->m.state == OSVDI_SESSION_RUNNING)
      publish (s);
  } else if (g_str_has_prefix (line, "error ")) {
    LOG_ERROR ("%s: pipeline: %s", s->info->uuid, line + 6);
  } else {
    LOG_INFO ("%s: pipeline: %s", s->info->uuid, line);
  }
  g_free (line);
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, s->cancel,
      on_status_line, s);
}

typedef struct
{
  OsvdiSupervisor *sup;
  gchar *uuid;
  guint64 serial;
  gchar *how;                   /* how the child ended */
  gboolean gone;                /* the VM no longer runs */
} VerdictJob;

static void
verdict_job_free (gpointer data)
{
  VerdictJob *vj = data;

  g_free (vj->uuid);
  g_free (vj->how);
  g_free (vj);
}

static void
verdict_job_run (virConnectPtr conn, gpointer data)
{
  VerdictJob *vj = data;
  virDomainPtr dom;

  if (!conn)
    return;
  dom = virDomainLookupByUUIDString (conn, vj->uuid);
  if (!dom) {
    vj->gone = virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
    return;
  }
  vj->gone = virDomainIsActive (dom) == 0;
  virDomainFree (dom);
}

static void
verdict_job_done (gpointer data)
{
  VerdictJob *vj = data;
  Session *s = session_find (vj->sup, vj->uuid, vj->serial);

  if (!s || !s->awaiting_libvirt)
    return;
  s->awaiting_libvirt = FALSE;
  if (vj->gone) {
    LOG_INFO ("%s: pipeline %s: its VM is no longer running", vj->uuid,
        vj->how);
    session_feed (s, OSVDI_SESSION_DOMAIN_STOPPED, "the VM stopped");
  } else {
    session_feed (s, OSVDI_SESSION_CHILD_EXITED, vj->how);
  }
}

static void
on_child_exit (GObject * source, GAsyncResult * res, gpointer data)
{
  GSubprocess *proc = G_SUBPROCESS (source);
  GError *error = NULL;
  Session *s = data;
  gchar *how;

  if (!g_subprocess_wait_finish (proc, res, &error)) {
    /* Cancelled: the session is gone already; do not touch it. */
    g_clear_error (&error);
    return;
  }
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
  if (s->ticket_fd >= 0) {
    close (s->ticket_fd);
    s->ticket_fd = -1;
  }

  /* A VM that shut down ends its display connection, and so the pipeline:
   * ask libvirt before counting it as a failure. */
  if (s->display_fd && !s->sup->stopping
      && (s->m.state == OSVDI_SESSION_STARTING
          || s->m.state == OSVDI_SESSION_RUNNING)) {
    VerdictJob *vj = g_new0 (VerdictJob, 1);

    vj->sup = s->sup;
    vj->uuid = g_strdup (s->info->uuid);
    vj->serial = s->serial;
    vj->how = how;
    s->awaiting_libvirt = TRUE;
    osvdi_libvirt_conn_submit (s->sup->lc, verdict_job_run,
        verdict_job_done, vj, verdict_job_free);
    return;
  }
  session_exited (s, how);
  g_free (how);
}

static void
child_setup (gpointer data)
{
  /* A launcher that dies (even by SIGKILL) takes its pipelines along: a
   * restarted launcher then starts exactly one per VM. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Starts the child with QEMU's display connection @display (-1: none;
 * taken). */
static void
session_start_child (Session * s, gint display)
{
  const OsvdiLauncherConfig *cfg = s->sup->cfg;
  GSubprocessLauncher *sl;
  GError *error = NULL;
  int ticket_pipe[2], status_pipe[2];
  GPtrArray *argv;
  GDataInputStream *status;
  gchar *line, *how;
  gsize len;

  if (pipe2 (ticket_pipe, O_CLOEXEC) < 0) {
    how = g_strdup_printf ("could not be started: pipe2: %s",
        g_strerror (errno));
    goto failed;
  }
  if (pipe2 (status_pipe, O_CLOEXEC) < 0) {
    how = g_strdup_printf ("could not be started: pipe2: %s",
        g_strerror (errno));
    close (ticket_pipe[0]);
    close (ticket_pipe[1]);
    goto failed;
  }
  /* The ticket, a line that fits the pipe's buffer: written now. With a
   * ticket-lifetime our end stays open for the renewed ones (a line each);
   * otherwise it closes. console=proxy: no ticket, the descriptor stays
   * empty. */
  if (s->ticket) {
    line = g_strdup_printf ("%s\n", s->ticket);
    len = strlen (line);
    if (write (ticket_pipe[1], line, len) != (ssize_t) len)
      LOG_ERROR ("%s: cannot pass the ticket: %s", s->info->uuid,
          g_strerror (errno));
    memset (line, 0, len);
    g_free (line);
  }
  if (s->ticket && cfg->ticket_lifetime) {
    if (s->ticket_fd >= 0)
      close (s->ticket_fd);
    /* Never blocks the launcher: a line is far below the pipe's buffer. */
    fcntl (ticket_pipe[1], F_SETFL, O_NONBLOCK);
    s->ticket_fd = ticket_pipe[1];
  } else {
    close (ticket_pipe[1]);
  }

  sl = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (sl, ticket_pipe[0], 3);
  g_subprocess_launcher_take_fd (sl, status_pipe[1], 4);
  if (display >= 0) {
    g_subprocess_launcher_take_fd (sl, display, 5);
    display = -1;
  }
  g_subprocess_launcher_set_child_setup (sl, child_setup, NULL, NULL);
  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, cfg->runner);
  g_ptr_array_add (argv, "--domain");
  g_ptr_array_add (argv, s->info->uuid);
  if (s->ticket) {
    g_ptr_array_add (argv, "--ticket-fd");
    g_ptr_array_add (argv, "3");
  } else {
    g_ptr_array_add (argv, "--no-ticket");
  }
  g_ptr_array_add (argv, "--status-fd");
  g_ptr_array_add (argv, "4");
  g_ptr_array_add (argv, s->pipeline);
  g_ptr_array_add (argv, NULL);
  s->proc = g_subprocess_launcher_spawnv (sl,
      (const gchar * const *) argv->pdata, &error);
  g_ptr_array_unref (argv);
  g_object_unref (sl);
  if (!s->proc) {
    LOG_ERROR ("%s: cannot start %s: %s", s->info->uuid, cfg->runner,
        error->message);
    g_clear_error (&error);
    close (status_pipe[0]);
    /* Same path as a crash: backoff, then give up. */
    how = g_strdup ("could not be started");
    goto failed;
  }
  LOG_INFO ("%s: started pipeline pid %s for %s (flavor file %s, SPICE "
      "port %d%s)", s->info->uuid, g_subprocess_get_identifier (s->proc),
      s->info->name, s->flavor_file, s->port, s->tls_port ? ", TLS" : "");
  status = g_data_input_stream_new (g_unix_input_stream_new (status_pipe[0],
          TRUE));
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (status),
      TRUE);
  g_object_unref (g_filter_input_stream_get_base_stream
      (G_FILTER_INPUT_STREAM (status)));
  g_data_input_stream_read_line_async (status, G_PRIORITY_DEFAULT, s->cancel,
      on_status_line, s);
  g_subprocess_wait_async (s->proc, s->cancel, on_child_exit, s);
  return;

failed:
  if (display >= 0)
    close (display);
  session_exited (s, how);
  g_free (how);
}

typedef struct
{
  OsvdiSupervisor *sup;
  gchar *uuid;
  guint64 serial;
  gint fd;
  gboolean not_running;
  gchar *error;
} DisplayJob;

static void
display_job_free (gpointer data)
{
  DisplayJob *dj = data;

  if (dj->fd >= 0)
    close (dj->fd);
  g_free (dj->uuid);
  g_free (dj->error);
  g_free (dj);
}

static void
display_job_run (virConnectPtr conn, gpointer data)
{
  DisplayJob *dj = data;
  GError *error = NULL;
  virDomainPtr dom;

  if (!conn) {
    dj->error = g_strdup ("not connected to libvirt");
    return;
  }
  dom = virDomainLookupByUUIDString (conn, dj->uuid);
  if (!dom) {
    dj->not_running = virGetLastErrorCode () == VIR_ERR_NO_DOMAIN;
    dj->error = g_strdup (virGetLastErrorMessage ());
    return;
  }
  dj->fd = osvdi_libvirt_open_dbus_display (dom, &error);
  if (dj->fd < 0) {
    dj->not_running = g_error_matches (error, OSVDI_LIBVIRT_ERROR,
        OSVDI_LIBVIRT_ERROR_NOT_RUNNING);
    dj->error = g_strdup (error ? error->message : "unknown error");
    g_clear_error (&error);
  }
  virDomainFree (dom);
}

static void
display_job_done (gpointer data)
{
  DisplayJob *dj = data;
  Session *s = session_find (dj->sup, dj->uuid, dj->serial);
  gchar *how;
  gint fd;

  if (!s || !s->awaiting_libvirt)
    return;                     /* stopped meanwhile; the fd is closed */
  s->awaiting_libvirt = FALSE;
  if (dj->fd >= 0) {
    fd = dj->fd;
    dj->fd = -1;
    session_start_child (s, fd);
    return;
  }
  LOG_ERROR ("%s: %s", s->info->uuid, dj->error);
  if (dj->not_running) {
    session_feed (s, OSVDI_SESSION_DOMAIN_STOPPED, "the VM stopped");
    return;
  }
  how = g_strdup_printf ("could not be started: no D-Bus display "
      "connection from libvirt (%s)", dj->error);
  session_exited (s, how);
  g_free (how);
}

static void
session_spawn (Session * s)
{
  DisplayJob *dj;

  if (!s->display_fd) {
    session_start_child (s, -1);
    return;
  }
  /* A fresh connection to QEMU's display for every start: QEMU serves one
   * client at a time, and a restarted pipeline needs a new one. */
  dj = g_new0 (DisplayJob, 1);
  dj->sup = s->sup;
  dj->uuid = g_strdup (s->info->uuid);
  dj->serial = s->serial;
  dj->fd = -1;
  s->awaiting_libvirt = TRUE;
  osvdi_libvirt_conn_submit (s->sup->lc, display_job_run, display_job_done,
      dj, display_job_free);
}

static void
session_terminate (Session * s)
{
  if (s->proc) {
    /* The runner sends EOS on SIGTERM; the port is freed when it is
     * gone. */
    g_subprocess_send_signal (s->proc, SIGTERM);
    s->kill_source = g_timeout_add (s->sup->cfg->stop_timeout_ms,
        on_kill_timeout, s);
    return;
  }
  /* No child (its display connection or libvirt's verdict was still on
   * its way): over now; that answer finds no session. */
  s->awaiting_libvirt = FALSE;
  session_exited (s, "never started");
}

/* ------------------------------------------------------------------------ */
/* The state machine's actions                                              */

static void
session_exited (Session * s, const gchar * how)
{
  session_feed (s, OSVDI_SESSION_CHILD_EXITED, how);
}

static void
log_step (Session * s, OsvdiSessionInput input, const OsvdiSessionStep * st,
    const gchar * why)
{
  const gchar *uuid = s->info->uuid;
  const OsvdiLauncherConfig *cfg = s->sup->cfg;

  LOG_DEBUG ("%s: %s: %s -> %s, actions 0x%x", uuid,
      osvdi_session_input_name (input), osvdi_session_state_name (st->from),
      osvdi_session_state_name (st->to), st->actions);
  if (input == OSVDI_SESSION_CHILD_EXITED) {
    if (st->gave_up)
      LOG_ERROR ("%s: pipeline %s; giving up after %u restarts (VM %s stays "
          "without a desktop session until it restarts or the launcher "
          "does)", uuid, why, cfg->max_restarts, s->info->name);
    else if (st->actions & OSVDI_SESSION_ACT_SCHEDULE_RESTART)
      LOG_WARN ("%s: pipeline %s after %" G_GINT64_FORMAT " s; restart %u of "
          "%u in %u ms", uuid, why, st->ran_us / G_USEC_PER_SEC,
          st->failures, cfg->max_restarts, st->delay_ms);
    else if (st->actions & OSVDI_SESSION_ACT_REMOVE)
      LOG_INFO ("%s: pipeline stopped (%s)", uuid, why);
  } else if ((input == OSVDI_SESSION_DOMAIN_STOPPED
          || input == OSVDI_SESSION_SHUTDOWN)
      && (st->from == OSVDI_SESSION_STARTING
          || st->from == OSVDI_SESSION_RUNNING
          || st->from == OSVDI_SESSION_BACKOFF
          || st->from == OSVDI_SESSION_FAILED)) {
    LOG_INFO ("%s: stopping the pipeline (%s)", uuid, why);
  } else if (input == OSVDI_SESSION_DOMAIN_STARTED
      && st->to == OSVDI_SESSION_RESTART_PENDING) {
    LOG_INFO ("%s: the VM started again while its pipeline stops: a new "
        "session once it is gone", uuid);
  } else if (input == OSVDI_SESSION_KILL_TIMER
      && (st->actions & OSVDI_SESSION_ACT_KILL)) {
    LOG_WARN ("%s: pipeline did not stop in time; killing it", uuid);
  }
}

/* Carries out one step, in the order of OsvdiSessionAction. SPAWN and
 * TERMINATE may feed the next input themselves (a child that cannot start
 * has exited); they come last in any step that has them. */
static void
session_feed (Session * s, OsvdiSessionInput input, const gchar * why)
{
  OsvdiSupervisor *sup = s->sup;
  OsvdiSessionStep st = osvdi_session_machine_feed (&s->m, input,
      g_get_monotonic_time ());
  guint a = st.actions;

  log_step (s, input, &st, why);
  if (a & OSVDI_SESSION_ACT_CANCEL_RESTART && s->restart_source) {
    g_source_remove (s->restart_source);
    s->restart_source = 0;
  }
  if (a & OSVDI_SESSION_ACT_WITHDRAW) {
    osvdi_publish_vv_remove (sup->cfg, s->info->uuid);
    osvdi_publish_metadata (sup->lc, s->info->uuid, NULL);
  }
  if (a & OSVDI_SESSION_ACT_RELEASE_PORTS)
    ports_release (s);
  if (a & OSVDI_SESSION_ACT_PUBLISH)
    publish (s);
  if (a & OSVDI_SESSION_ACT_TERMINATE) {
    session_terminate (s);
    return;
  }
  if (a & OSVDI_SESSION_ACT_KILL && s->proc)
    g_subprocess_force_exit (s->proc);
  if (a & OSVDI_SESSION_ACT_SPAWN) {
    session_spawn (s);
    return;
  }
  if (a & OSVDI_SESSION_ACT_SCHEDULE_RESTART)
    s->restart_source = g_timeout_add (st.delay_ms, on_restart, s);
  if (a & OSVDI_SESSION_ACT_REMOVE) {
    gchar *uuid = g_strdup (s->info->uuid);

    g_hash_table_remove (sup->sessions, uuid);
    if (a & OSVDI_SESSION_ACT_RENEW && !sup->stopping) {
      LOG_INFO ("%s: the VM started again meanwhile: new session", uuid);
      osvdi_libvirt_conn_refresh (sup->lc, uuid);
    }
    g_free (uuid);
    maybe_all_gone (sup);
  }
}

/* ------------------------------------------------------------------------ */
/* Ticket rotation (ticket-lifetime)                                        */

/* Seconds after which a ticket of @lifetime seconds is renewed: a fifth
 * of its life (at least 5 s, at most half of it) before it runs out. */
static guint
renew_interval_s (guint lifetime)
{
  guint margin = MIN (MAX (lifetime / 5, 5), lifetime / 2);

  return MAX (lifetime - margin, 1);
}

/* A new ticket for the session: to the running child (which sets it on its
 * sink, then says "ticket": the .vv file and the metadata follow then), or,
 * without a child, for the next one. Connected clients stay; the old
 * ticket is refused from then on. */
static gboolean
on_renew_ticket (gpointer data)
{
  Session *s = data;
  gchar *ticket = ticket_new (), *line;
  gsize len;

  if (!ticket) {
    LOG_ERROR ("%s: cannot renew the ticket; the current one runs out "
        "in %" G_GINT64_FORMAT " s", s->info->uuid,
        s->ticket_expiry - g_get_real_time () / G_USEC_PER_SEC);
    return G_SOURCE_CONTINUE;
  }
  memset (s->ticket, 0, strlen (s->ticket));
  g_free (s->ticket);
  s->ticket = ticket;
  s->ticket_expiry = g_get_real_time () / G_USEC_PER_SEC
      + s->sup->cfg->ticket_lifetime;
  if (s->ticket_fd >= 0) {
    line = g_strdup_printf ("%s\n", s->ticket);
    len = strlen (line);
    if (write (s->ticket_fd, line, len) != (ssize_t) len) {
      /* The child is going (EPIPE); the next one gets this ticket. */
      LOG_WARN ("%s: cannot pass the renewed ticket to the pipeline: %s",
          s->info->uuid, g_strerror (errno));
      close (s->ticket_fd);
      s->ticket_fd = -1;
    }
    memset (line, 0, len);
    g_free (line);
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Setting a session up                                                     */

static void
skip_domain (OsvdiSupervisor * sup, const gchar * uuid, const gchar * reason)
{
  const gchar *old = g_hash_table_lookup (sup->skipped, uuid);

  if (old && g_str_equal (old, reason))
    return;                     /* logged once */
  LOG_INFO ("%s: no pipeline: %s", uuid, reason);
  g_hash_table_insert (sup->skipped, g_strdup (uuid), g_strdup (reason));
}

static void
session_create (OsvdiSupervisor * sup, const gchar * uuid, const gchar * xml)
{
  const OsvdiLauncherConfig *cfg = sup->cfg;
  g_autoptr (OsvdiDomainInfo) info = NULL;
  OsvdiSessionPolicy policy = {.max_restarts = cfg->max_restarts,
    .stable_ms = cfg->stable_seconds * 1000,
    .backoff_initial_ms = cfg->backoff_initial_ms,
    .backoff_max_ms = cfg->backoff_max_ms
  };
  GError *error = NULL;
  gchar *flavor_file, *tmpl;
  const gchar *missing;
  gboolean uses_port, uses_tls;
  Session *s;

  info = osvdi_domain_info_parse (xml, &error);
  if (!info) {
    LOG_WARN ("%s: %s", uuid, error->message);
    g_clear_error (&error);
    return;
  }
  if (!info->mdev_uuid && !info->dbus_display) {
    skip_domain (sup, uuid, "it has neither a mediated device with "
        "display='on' nor a D-Bus display (<graphics type='dbus' "
        "p2p='yes'/>)");
    return;
  }
  flavor_file = osvdi_flavor_file_for (cfg->flavors_dir, info);
  tmpl = osvdi_flavor_load (flavor_file, &error);
  if (!tmpl) {
    LOG_ERROR ("%s: VM %s gets no desktop session: %s", uuid, info->name,
        error->message);
    g_hash_table_insert (sup->skipped, g_strdup (uuid),
        g_strdup_printf ("broken flavor file: %s", error->message));
    g_clear_error (&error);
    g_free (flavor_file);
    return;
  }
  /* What the flavor reads from the VM must be there. */
  missing = osvdi_flavor_missing (tmpl, info);
  if (missing) {
    gchar *reason = g_strdup_printf ("%s uses %s", flavor_file, missing);

    skip_domain (sup, uuid, reason);
    g_free (reason);
    g_free (tmpl);
    g_free (flavor_file);
    return;
  }

  s = g_new0 (Session, 1);
  s->sup = sup;
  s->ticket_fd = -1;
  s->serial = ++sup->next_serial;
  osvdi_session_machine_init (&s->m, &policy);
  s->display_fd = osvdi_flavor_wants_display_fd (tmpl);
  s->cancel = g_cancellable_new ();
  s->flavor_file = flavor_file;
  s->info = g_steal_pointer (&info);
  g_hash_table_insert (sup->sessions, s->info->uuid, s);
  g_hash_table_remove (sup->skipped, s->info->uuid);

  /* Only the ports the flavor serves: a TLS-only flavor (port=0) holds no
   * plain port, a flavor without TLS no TLS port, and neither is then
   * published where nothing listens. */
  uses_port = osvdi_flavor_uses (tmpl, "SPICE_PORT");
  uses_tls = cfg->tls_port_min && osvdi_flavor_uses (tmpl, "SPICE_TLS_PORT");
  if (!uses_port && !uses_tls) {
    LOG_ERROR ("%s: VM %s gets no desktop session: %s serves no SPICE port "
        "(its pipeline uses neither ${SPICE_PORT} nor, with [spice] "
        "tls-port-min, ${SPICE_TLS_PORT})", s->info->uuid, s->info->name,
        s->flavor_file);
    goto failed;
  }
  if (uses_port)
    s->port = port_alloc (sup, cfg->port_min, cfg->port_max, s->info->uuid);
  if (uses_tls)
    s->tls_port = port_alloc (sup, cfg->tls_port_min, cfg->tls_port_max,
        s->info->uuid);
  if (uses_port && !s->port) {
    LOG_ERROR ("%s: no free SPICE port in %d-%d: VM %s gets no desktop "
        "session", s->info->uuid, cfg->port_min, cfg->port_max,
        s->info->name);
    goto failed;
  }
  if (uses_tls && !s->tls_port) {
    LOG_ERROR ("%s: no free SPICE TLS port in %d-%d: VM %s gets no desktop "
        "session", s->info->uuid, cfg->tls_port_min, cfg->tls_port_max,
        s->info->name);
    goto failed;
  }
  /* console=proxy: the console proxy is the gate, no ticket. */
  if (cfg->console == OSVDI_CONSOLE_DIRECT && !(s->ticket = ticket_new ())) {
    LOG_ERROR ("%s: no ticket: VM %s gets no desktop session",
        s->info->uuid, s->info->name);
    goto failed;
  }
  if (s->ticket && cfg->ticket_lifetime) {
    s->ticket_expiry = g_get_real_time () / G_USEC_PER_SEC
        + cfg->ticket_lifetime;
    s->renew_source = g_timeout_add_seconds (renew_interval_s
        (cfg->ticket_lifetime), on_renew_ticket, s);
  }
  s->pipeline = osvdi_flavor_expand (tmpl, cfg, s->info, s->port,
      s->tls_port, &error);
  if (!s->pipeline) {
    LOG_ERROR ("%s: VM %s gets no desktop session: %s: %s", s->info->uuid,
        s->info->name, s->flavor_file, error->message);
    g_clear_error (&error);
    goto failed;
  }
  g_free (tmpl);
  session_feed (s, OSVDI_SESSION_BEGIN, NULL);
  return;

failed:
  g_free (tmpl);
  session_feed (s, OSVDI_SESSION_SETUP_FAILED, NULL);
}

/* ------------------------------------------------------------------------ */
/* What libvirt reports                                                     */

static void
on_domain_started (const gchar * uuid, const gchar * xml, gpointer data)
{
  OsvdiSupervisor *sup = data;
  Session *s;

  if (sup->stopping)
    return;
  s = g_hash_table_lookup (sup->sessions, uuid);
  if (s)
    session_feed (s, OSVDI_SESSION_DOMAIN_STARTED, NULL);
  else
    session_create (sup, uuid, xml);
}

static void
on_domain_stopped (const gchar * uuid, gboolean crashed, gpointer data)
{
  OsvdiSupervisor *sup = data;
  Session *s;

  g_hash_table_remove (sup->skipped, uuid);
  s = g_hash_table_lookup (sup->sessions, uuid);
  if (s)
    session_feed (s, OSVDI_SESSION_DOMAIN_STOPPED, crashed ?
        "the VM crashed" : "the VM stopped");
}

static void
on_domain_undefined (const gchar * uuid, gpointer data)
{
  OsvdiSupervisor *sup = data;
  Session *s = g_hash_table_lookup (sup->sessions, uuid);

  if (s)
    session_feed (s, OSVDI_SESSION_DOMAIN_UNDEFINED, NULL);
}

/* Running VMs that need a pipeline get one; pipelines of VMs that are gone
 * stop. */
static void
on_reconcile (GPtrArray * running, gpointer data)
{
  OsvdiSupervisor *sup = data;
  GHashTable *up = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter it;
  Session *s;
  GList *gone = NULL, *g;
  guint i;

  for (i = 0; i < running->len; i++) {
    OsvdiRunningDomain *d = g_ptr_array_index (running, i);

    g_hash_table_add (up, d->uuid);
    if (d->xml)
      on_domain_started (d->uuid, d->xml, sup);
  }
  g_hash_table_iter_init (&it, sup->sessions);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & s))
    if (!g_hash_table_contains (up, s->info->uuid))
      gone = g_list_prepend (gone, g_strdup (s->info->uuid));
  for (g = gone; g; g = g->next) {
    s = g_hash_table_lookup (sup->sessions, g->data);
    if (s)
      session_feed (s, OSVDI_SESSION_DOMAIN_STOPPED,
          "the VM is no longer running");
  }
  g_list_free_full (gone, g_free);
  g_hash_table_unref (up);
  LOG_INFO ("reconciled: %u running domains, %u sessions", running->len,
      g_hash_table_size (sup->sessions));
}

const OsvdiLibvirtConnEvents osvdi_supervisor_events = {
  .domain_started = on_domain_started,
  .domain_stopped = on_domain_stopped,
  .domain_undefined = on_domain_undefined,
  .reconcile = on_reconcile,
};

/* ------------------------------------------------------------------------ */

void
osvdi_supervisor_stop_all (OsvdiSupervisor * sup)
{
  GHashTableIter it;
  Session *s;
  GList *all = NULL, *a;

  sup->stopping = TRUE;
  g_hash_table_iter_init (&it, sup->sessions);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) & s))
    all = g_list_prepend (all, g_strdup (s->info->uuid));
  for (a = all; a; a = a->next) {
    s = g_hash_table_lookup (sup->sessions, a->data);
    if (s)
      session_feed (s, OSVDI_SESSION_SHUTDOWN, "the launcher stops");
  }
  g_list_free_full (all, g_free);
  maybe_all_gone (sup);
}

OsvdiSupervisor *
osvdi_supervisor_new (const OsvdiLauncherConfig * cfg, OsvdiLibvirtConn * lc,
    GSourceFunc all_gone, gpointer data)
{
  OsvdiSupervisor *sup = g_new0 (OsvdiSupervisor, 1);

  sup->cfg = cfg;
  sup->lc = lc;
  sup->all_gone = all_gone;
  sup->all_gone_data = data;
  sup->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
      (GDestroyNotify) session_free);
  sup->ports = g_hash_table_new (NULL, NULL);
  sup->skipped = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  return sup;
}

void
osvdi_supervisor_free (OsvdiSupervisor * sup)
{
  if (!sup)
    return;
  g_hash_table_destroy (sup->sessions);
  g_hash_table_unref (sup->ports);
  g_hash_table_unref (sup->skipped);
  g_free (sup);
}
