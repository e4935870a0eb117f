/* OSVDI - osvdi-pipeline: runs one VM's pipeline for osvdi-launcher
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-pipeline [--domain UUID] [--ticket-fd N | --no-ticket]
 *                  [--status-fd N] PIPELINE
 *
 * The SPICE ticket arrives on an inherited file descriptor, never on the
 * command line or in the environment, and goes to every element of the
 * pipeline with a "password" property (spicesink). Each further line on
 * that descriptor is a renewed ticket (the launcher's ticket-lifetime): it
 * replaces the old one on those elements while playing, connected clients
 * stay, and "ticket" is reported once it is in use. --no-ticket (the
 * launcher's console=proxy) sets "disable-ticketing" on those elements
 * instead: a console proxy is the gate. State changes are
 * reported as lines on the status descriptor: "playing", "eos", "ticket",
 * "error <text>". SIGTERM or SIGINT sends EOS and exits when it is through.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include <glib-unix.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define EOS_TIMEOUT_S 3

typedef struct
{
  GMainLoop *loop;
  GstElement *pipeline;
  gint status_fd;
  gint exit_code;
  const gchar *domain;
  gint ticket_fd;               /* renewed tickets; -1 once closed */
  GString *ticket_buf;          /* a renewed ticket's line so far */
} Runner;

static void
report (Runner * r, const gchar * fmt, ...) G_GNUC_PRINTF (2, 3);

static void
report (Runner * r, const gchar * fmt, ...)
{
  va_list ap;
  gchar *line;

  va_start (ap, fmt);
  line = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("osvdi-pipeline[%s]: %s\n", r->domain, line);
  if (r->status_fd >= 0) {
    gchar *l = g_strdup_printf ("%s\n", line);
    gsize left = strlen (l);
    const gchar *p = l;

    while (left > 0) {
      ssize_t n = write (r->status_fd, p, left);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      p += n;
      left -= n;
    }
    g_free (l);
  }
  g_free (line);
}

/* The first line on @fd: the ticket. Read a byte at a time so that the
 * renewed tickets after it stay in the pipe for the main loop. */
static gchar *
read_ticket (gint fd, GError ** error)
{
  GString *s = g_string_new (NULL);
  gchar c;

  for (;;) {
    ssize_t n = read (fd, &c, 1);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
          "cannot read the ticket from fd %d: %s", fd, g_strerror (errno));
      memset (s->str, 0, s->len);
      g_string_free (s, TRUE);
      return NULL;
    }
    if (n == 0 || c == '\n')
      break;
    g_string_append_c (s, c);
  }
  c = 0;
  s->str[strcspn (s->str, "\r\n")] = '\0';
  return g_string_free (s, FALSE);
}

/* Sets property @name to @value on every element of @pipeline that has a
 * writable property of that name and type; returns how many. */
static guint
set_on_each (GstElement * pipeline, const gchar * name, const GValue * value)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;
  guint n = 0;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&item);
    GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
        name);

    if (p && G_PARAM_SPEC_VALUE_TYPE (p) == G_VALUE_TYPE (value)
        && (p->flags & G_PARAM_WRITABLE)) {
      g_object_set_property (G_OBJECT (e), name, value);
      n++;
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return n;
}

/* Gives the ticket to every element that takes a password; returns how
 * many. */
static guint
hand_out_ticket (GstElement * pipeline, const gchar * ticket)
{
  GValue v = G_VALUE_INIT;
  guint n;

  /* static: the ticket is not copied into the GValue */
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_static_string (&v, ticket);
  n = set_on_each (pipeline, "password", &v);
  g_value_unset (&v);
  return n;
}

/* --no-ticket: every element that takes a password accepts clients without
 * one; returns how many. */
static guint
disable_tickets (GstElement * pipeline)
{
  GValue v = G_VALUE_INIT;
  guint n;

  g_value_init (&v, G_TYPE_BOOLEAN);
  g_value_set_boolean (&v, TRUE);
  n = set_on_each (pipeline, "disable-ticketing", &v);
  g_value_unset (&v);
  return n;
}

/* A renewed ticket, a line on the ticket descriptor: set while playing
 * (spicesink's password may change then). EOF: no more renewals. */
static gboolean
on_ticket_fd (gint fd, GIOCondition cond, gpointer data)
{
  Runner *r = data;
  gchar buf[128];
  ssize_t n;
  gchar *nl;

  n = read (fd, buf, sizeof (buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    close (fd);
    r->ticket_fd = -1;
    return G_SOURCE_REMOVE;
  }
  g_string_append_len (r->ticket_buf, buf, n);
  memset (buf, 0, sizeof (buf));
  /* A line far longer than a ticket is not one: dropped. */
  if (r->ticket_buf->len > 1024) {
    report (r, "error a ticket line longer than 1024 bytes; ignored");
    memset (r->ticket_buf->str, 0, r->ticket_buf->len);
    g_string_truncate (r->ticket_buf, 0);
  }
  while ((nl = memchr (r->ticket_buf->str, '\n', r->ticket_buf->len))) {
    gsize len = nl - r->ticket_buf->str;

    *nl = '\0';
    if (len > 0 && r->ticket_buf->str[len - 1] == '\r')
      r->ticket_buf->str[len - 1] = '\0';
    if (r->ticket_buf->str[0] && hand_out_ticket (r->pipeline,
            r->ticket_buf->str) > 0)
      report (r, "ticket");
    memset (r->ticket_buf->str, 0, len + 1);
    g_string_erase (r->ticket_buf, 0, len + 1);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer data)
{
  Runner *r = data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:{
      GError *err = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (msg, &err, &dbg);
      report (r, "error %s (%s)", err->message, dbg ? dbg : "no details");
      g_error_free (err);
      g_free (dbg);
      r->exit_code = 1;
      g_main_loop_quit (r->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      report (r, "eos");
      g_main_loop_quit (r->loop);
      break;
    case GST_MESSAGE_STATE_CHANGED:
      if (GST_MESSAGE_SRC (msg) == GST_OBJECT (r->pipeline)) {
        GstState newstate;

        gst_message_parse_state_changed (msg, NULL, &newstate, NULL);
        if (newstate == GST_STATE_PLAYING)
          report (r, "playing");
      }
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_eos_timeout (gpointer data)
{
  Runner *r = data;

  report (r, "error EOS did not finish within %d s; stopping", EOS_TIMEOUT_S);
  g_main_loop_quit (r->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer data)
{
  Runner *r = data;

  /* EOS lets the sink tell its clients goodbye; the timeout ends it
   * regardless, and should even tearing down hang, SIGALRM's default action
   * ends the process: a runner whose launcher died (PR_SET_PDEATHSIG) has
   * nobody left to SIGKILL it. */
  alarm (EOS_TIMEOUT_S + 10);
  gst_element_send_event (r->pipeline, gst_event_new_eos ());
  g_timeout_add_seconds (EOS_TIMEOUT_S, on_eos_timeout, r);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  Runner r = {.status_fd = -1,.domain = "-",.ticket_fd = -1 };
  gint ticket_fd = -1;
  gboolean no_ticket = FALSE;
  gchar *domain = NULL;
  gchar **rest = NULL;
  gchar *ticket = NULL;
  GError *error = NULL;
  GOptionEntry entries[] = {
    {"domain", 0, 0, G_OPTION_ARG_STRING, &domain, "Domain UUID (for logs)",
        "UUID"},
    {"ticket-fd", 0, 0, G_OPTION_ARG_INT, &ticket_fd,
        "Read the SPICE ticket from this descriptor", "FD"},
    {"no-ticket", 0, 0, G_OPTION_ARG_NONE, &no_ticket,
        "Clients need no ticket (a console proxy is the gate)", NULL},
    {"status-fd", 0, 0, G_OPTION_ARG_INT, &r.status_fd,
        "Report state lines on this descriptor", "FD"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL,
        "PIPELINE"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("PIPELINE");
  GstBus *bus;
  guint n;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("osvdi-pipeline: %s\n", error->message);
    goto out;
  }
  if (domain)
    r.domain = domain;
  if (!rest || !rest[0] || rest[1]) {
    report (&r, "error expected exactly one PIPELINE argument");
    goto out;
  }
  if (no_ticket && ticket_fd >= 0) {
    report (&r, "error --no-ticket and --ticket-fd exclude each other");
    goto out;
  }
  if (ticket_fd >= 0 && !(ticket = read_ticket (ticket_fd, &error))) {
    report (&r, "error %s", error->message);
    goto out;
  }

  r.pipeline = gst_parse_launch_full (rest[0], NULL,
      GST_PARSE_FLAG_FATAL_ERRORS, &error);
  if (!r.pipeline) {
    report (&r, "error the pipeline does not parse: %s", error->message);
    goto out;
  }
  if (ticket) {
    n = hand_out_ticket (r.pipeline, ticket);
    if (n == 0) {
      report (&r, "error the pipeline has no element that takes the ticket "
          "(spicesink)");
      goto out;
    }
  }
  if (no_ticket && disable_tickets (r.pipeline) == 0) {
    report (&r, "error --no-ticket, but the pipeline has no element that "
        "takes a ticket (spicesink)");
    goto out;
  }

  r.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (r.pipeline);
  gst_bus_add_watch (bus, on_bus, &r);
  gst_object_unref (bus);
  g_unix_signal_add (SIGTERM, on_signal, &r);
  g_unix_signal_add (SIGINT, on_signal, &r);
  if (ticket_fd >= 0) {
    r.ticket_fd = ticket_fd;
    r.ticket_buf = g_string_new (NULL);
    g_unix_set_fd_nonblocking (ticket_fd, TRUE, NULL);
    g_unix_fd_add (ticket_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_ticket_fd,
        &r);
  }

  if (gst_element_set_state (r.pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE)
    r.exit_code = 1;            /* the bus says why */
  g_main_loop_run (r.loop);

  gst_element_set_state (r.pipeline, GST_STATE_NULL);
  g_main_loop_unref (r.loop);

out:
  /* Exit code 2: nothing ran (usage, ticket or pipeline errors). */
  if (!r.loop)
    r.exit_code = 2;
  if (r.pipeline)
    gst_object_unref (r.pipeline);
  if (ticket) {
    memset (ticket, 0, strlen (ticket));
    g_free (ticket);
  }
  if (r.ticket_buf) {
    memset (r.ticket_buf->str, 0, r.ticket_buf->len);
    g_string_free (r.ticket_buf, TRUE);
  }
  if (r.ticket_fd >= 0)
    close (r.ticket_fd);
  g_clear_error (&error);
  g_option_context_free (ctx);
  g_strfreev (rest);
  g_free (domain);
  return r.exit_code;
}
