/* OSVDI - memory of a spicesink session over time, with client reconnects
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-soak [--minutes 10] [--reconnects 200] [--width 1920]
 *                    [--height 1080] [--fps 30]
 *
 * Runs the session in a child process (gst-launch-1.0 ... ! spicesink), so
 * that its RSS is the sink's and not the client's; a real spice-client-glib
 * client in this process connects and disconnects evenly over the run,
 * watching at least one frame each time. The child's RSS is sampled every
 * second; the result is the least-squares slope over the second half of
 * the run (after warm-up), in KiB per minute, with the RSS range.
 */
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "osvdi-test-client.h"

static glong
rss_kib (GPid pid)
{
  gchar *path = g_strdup_printf ("/proc/%d/status", pid);
  gchar *text = NULL, *line;
  glong kib = -1;

  if (g_file_get_contents (path, &text, NULL, NULL)
      && (line = strstr (text, "VmRSS:")))
    kib = strtol (line + 6, NULL, 10);
  g_free (text);
  g_free (path);
  return kib;
}

int
main (int argc, char **argv)
{
  gint minutes = 10, reconnects = 200, width = 1920, height = 1080, fps = 30;
  GOptionEntry entries[] = {
    {"minutes", 0, 0, G_OPTION_ARG_INT, &minutes, NULL, NULL},
    {"reconnects", 0, 0, G_OPTION_ARG_INT, &reconnects, NULL, NULL},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, NULL, NULL},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, NULL, NULL},
    {"fps", 0, 0, G_OPTION_ARG_INT, &fps, NULL, NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- spicesink memory soak");
  GError *error = NULL;
  OsvdiTestClientConfig cfg = {.port = osvdi_test_client_free_port () };
  gchar *caps, *port, *argvv[32];
  GPid pid;
  gint64 start, end, next_connect;
  GArray *t = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GArray *r = g_array_new (FALSE, FALSE, sizeof (gdouble));
  guint done = 0, watched = 0, i, n;
  gdouble mt = 0, mr = 0, num = 0, den = 0, lo = G_MAXDOUBLE, hi = 0;
  gint k = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    g_error ("%s", error->message);

  caps = g_strdup_printf ("video/x-raw,width=%d,height=%d,framerate=%d/1",
      width, height, fps);
  port = g_strdup_printf ("port=%d", cfg.port);
  argvv[k++] = "gst-launch-1.0";
  argvv[k++] = "-q";
  argvv[k++] = "videotestsrc";
  argvv[k++] = "is-live=true";
  argvv[k++] = "pattern=ball";
  argvv[k++] = "!";
  argvv[k++] = caps;
  argvv[k++] = "!";
  argvv[k++] = "x264enc";
  argvv[k++] = "tune=zerolatency";
  argvv[k++] = "speed-preset=ultrafast";
  argvv[k++] = "!";
  argvv[k++] = "h264parse";
  argvv[k++] = "!";
  argvv[k++] = "spicesink";
  argvv[k++] = port;
  argvv[k++] = "disable-ticketing=true";
  argvv[k++] = NULL;
  if (!g_spawn_async (NULL, argvv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &pid,
          &error))
    g_error ("%s", error->message);
  g_usleep (2 * G_USEC_PER_SEC);

  start = g_get_monotonic_time ();
  end = start + (gint64) minutes * 60 * G_USEC_PER_SEC;
  next_connect = start;
  while (g_get_monotonic_time () < end) {
    gint64 now = g_get_monotonic_time ();
    gdouble ts = (now - start) / 60e6, kib = rss_kib (pid);

    if (kib < 0)
      g_error ("the session process is gone");
    g_array_append_val (t, ts);
    g_array_append_val (r, kib);
    if (now >= next_connect && done < (guint) reconnects) {
      OsvdiTestClient *client = osvdi_test_client_new (&cfg);

      osvdi_test_client_connect (client);
      if (osvdi_test_client_wait_open (client, 10000, NULL)
          && osvdi_test_client_wait_frames (client, 1, 5000))
        watched++;
      osvdi_test_client_free (client);
      done++;
      next_connect = start + (gint64) done * (end - start) / reconnects;
    }
    osvdi_test_client_iterate (1000);
  }
  kill (pid, SIGTERM);
  g_spawn_close_pid (pid);

  /* Slope over the second half. */
  n = t->len;
  for (i = n / 2; i < n; i++) {
    mt += g_array_index (t, gdouble, i);
    mr += g_array_index (r, gdouble, i);
  }
  mt /= n - n / 2;
  mr /= n - n / 2;
  for (i = n / 2; i < n; i++) {
    gdouble dt = g_array_index (t, gdouble, i) - mt;
    gdouble v = g_array_index (r, gdouble, i);

    num += dt * (v - mr);
    den += dt * dt;
    lo = MIN (lo, v);
    hi = MAX (hi, v);
  }
  g_print ("{\"bench\": \"soak\", \"width\": %d, \"height\": %d, \"fps\": %d, "
      "\"minutes\": %d, \"reconnects\": %u, \"reconnects_with_picture\": %u, "
      "\"samples\": %u, \"rss_first_kib\": %.0f, \"rss_second_half_min_kib\": "
      "%.0f, \"rss_second_half_max_kib\": %.0f, \"slope_kib_per_min\": %.2f}\n",
      width, height, fps, minutes, done, watched, n,
      g_array_index (r, gdouble, 0), lo, hi, den > 0 ? num / den : 0.0);
  g_array_unref (t);
  g_array_unref (r);
  g_free (caps);
  g_free (port);
  return 0;
}
