/* OSVDI - how many software-encoded sessions this machine sustains
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-density [--max 4] [--seconds 20] [--width 1920]
 *                       [--height 1080] [--fps 30]
 *
 * For N = 1..max, runs N sessions at once, one process each
 * (videotestsrc ! x264enc ultrafast/zerolatency ! h264parse ! spicesink),
 * counts the frames reaching each spicesink over the run and the CPU each
 * process used. A session is sustained when it delivered at least 95 % of
 * the frame rate. Prints one JSON object per N. The frames reach spicesink
 * whether or not a client watches; with clients, spicesink's own work adds
 * about one instruction per encoded byte (see sinkcost).
 *
 * --breakdown: instead, one 1080p30 session's CPU split by part, each
 * measured in its own process over the same time: the source alone
 * (videotestsrc ! fakesink), source + encoder (! x264enc ! h264parse !
 * fakesink) and the whole session with spicesink serving a real SPICE
 * client (the client runs in another process, not counted). Encoder =
 * second - first; transport (spicesink + spice-server) = third - second.
 */
#include <gst/gst.h>
#include <stdio.h>
#include <signal.h>
#include "osvdi-test-client.h"
#include <stdlib.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

static gint width = 1920, height = 1080, fps = 30, seconds = 20;

static GstPadProbeReturn
count (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  (*(guint64 *) data)++;
  return GST_PAD_PROBE_OK;
}

typedef enum
{ WHOLE, SOURCE_ONLY, SOURCE_ENCODER } Variant;

/* A SPICE client watching @port until killed. */
static void
client_process (gint port)
{
  OsvdiTestClientConfig cfg = {.port = port };
  OsvdiTestClient *client;
  guint tries;

  for (tries = 0; tries < 50; tries++) {
    client = osvdi_test_client_new (&cfg);
    if (osvdi_test_client_connect (client)
        && osvdi_test_client_wait_open (client, 500, NULL))
      break;
    osvdi_test_client_free (client);
    client = NULL;
  }
  for (;;)
    osvdi_test_client_iterate (1000);
}

/* One session; writes "frames cpu_seconds" to @out. */
static void
session (gint port, FILE * out, Variant variant)
{
  gchar *tail = variant == WHOLE ? g_strdup_printf ("! spicesink name=sink "
      "port=%d disable-ticketing=true", port) : g_strdup ("! fakesink "
      "name=sink");
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true pattern=ball "
      "! video/x-raw,width=%d,height=%d,framerate=%d/1 %s%s", width, height,
      fps, variant == SOURCE_ONLY ? "" : "! x264enc tune=zerolatency "
      "speed-preset=ultrafast ! h264parse ", tail);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  guint64 frames = 0;
  struct rusage ru;

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count, &frames, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_usleep (1 * G_USEC_PER_SEC);       /* warm-up */
  frames = 0;
  getrusage (RUSAGE_SELF, &ru);
  {
    gdouble cpu0 = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
        + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    g_usleep ((gulong) seconds * G_USEC_PER_SEC);
    getrusage (RUSAGE_SELF, &ru);
    fprintf (out, "%" G_GUINT64_FORMAT " %.2f\n", frames,
        ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
        + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6 - cpu0);
  }
  fflush (out);
  _exit (0);
}

int
main (int argc, char **argv)
{
  gint max = 4, n, i;
  gboolean breakdown = FALSE;
  GOptionEntry entries[] = {
    {"breakdown", 0, 0, G_OPTION_ARG_NONE, &breakdown, NULL, NULL},
    {"max", 0, 0, G_OPTION_ARG_INT, &max, NULL, NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds, NULL, NULL},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, NULL, NULL},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, NULL, NULL},
    {"fps", 0, 0, G_OPTION_ARG_INT, &fps, NULL, NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- OSVDI session density");
  GError *error = NULL;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    g_error ("%s", error->message);
  g_option_context_free (ctx);

  if (breakdown) {
    gdouble cores[3] = { 0 };
    guint64 got[3] = { 0 };
    Variant v;

    for (v = WHOLE; v <= SOURCE_ENCODER; v++) {
      gint port = 26890, fds[2];
      pid_t client = -1;
      FILE *in;
      gdouble c = 0;

      if (v == WHOLE && (client = fork ()) == 0)
        client_process (port);
      if (pipe (fds) < 0)
        g_error ("pipe");
      if (fork () == 0) {
        close (fds[0]);
        session (port, fdopen (fds[1], "w"), v);
      }
      close (fds[1]);
      in = fdopen (fds[0], "r");
      if (fscanf (in, "%" G_GUINT64_FORMAT " %lf", &got[v], &c) != 2)
        got[v] = 0;
      fclose (in);
      if (client > 0)
        kill (client, SIGKILL);
      while (wait (NULL) > 0);
      cores[v] = c / seconds;
    }
    g_print ("{\"bench\": \"cpu-breakdown\", \"width\": %d, \"height\": %d, "
        "\"fps\": %d, \"seconds\": %d, \"frames\": [%" G_GUINT64_FORMAT
        ", %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "], "
        "\"source_cores\": %.3f, \"encoder_cores\": %.3f, "
        "\"transport_cores\": %.3f, \"session_cores\": %.3f, "
        "\"non_encoder_share\": %.3f}\n", width, height, fps, seconds,
        got[WHOLE], got[SOURCE_ONLY], got[SOURCE_ENCODER], cores[SOURCE_ONLY],
        cores[SOURCE_ENCODER] - cores[SOURCE_ONLY],
        cores[WHOLE] - cores[SOURCE_ENCODER], cores[WHOLE],
        cores[WHOLE] > 0 ? (cores[WHOLE] - cores[SOURCE_ENCODER]
            + cores[SOURCE_ONLY]) / cores[WHOLE] : 0);
    return 0;
  }

  for (n = 1; n <= max; n++) {
    FILE *results[16];
    gdouble min_fps = G_MAXDOUBLE, cpu = 0;
    guint sustained = 0;

    for (i = 0; i < n && i < 16; i++) {
      int fds[2];

      if (pipe (fds) < 0)
        g_error ("pipe");
      if (fork () == 0) {
        close (fds[0]);
        session (26900 + 10 * n + i, fdopen (fds[1], "w"), WHOLE);
      }
      close (fds[1]);
      results[i] = fdopen (fds[0], "r");
    }
    for (i = 0; i < n && i < 16; i++) {
      guint64 frames = 0;
      gdouble c = 0, rate;

      if (fscanf (results[i], "%" G_GUINT64_FORMAT " %lf", &frames, &c) != 2)
        frames = 0;
      fclose (results[i]);
      rate = (gdouble) frames / seconds;
      min_fps = MIN (min_fps, rate);
      cpu += c;
      if (rate >= 0.95 * fps)
        sustained++;
    }
    while (wait (NULL) > 0);
    g_print ("{\"bench\": \"density\", \"sessions\": %d, \"width\": %d, "
        "\"height\": %d, \"fps\": %d, \"sustained\": %u, \"min_fps\": %.1f, "
        "\"cpu_cores_per_session\": %.2f}\n", n, width, height, fps,
        sustained, min_fps, cpu / seconds / n);
  }
  return 0;
}
