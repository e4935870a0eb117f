/* OSVDI - a command-line SPICE client for tests: connect, wait for pixels
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-spice-probe --port P | --tls-port P --ca-file F [--password T]
 *                     [--seconds S]
 *                     [--lit X0,Y0,X1,Y1,N] [X,Y,RRGGBB...]
 *
 * Connects to HOST:P (127.0.0.1 unless --host) with spice-client-glib, retrying until the
 * server answers, and waits until every listed pixel of the decoded
 * display is within a lossy-codec tolerance of its colour. Exit 0 when
 * they all match within S seconds (default 120), 1 otherwise, printing
 * what it saw. --lit also wants at least N bright pixels (text on a dark
 * console) in that rectangle.
 *
 * --hold-until FILE: once the pixels match, prints "probe: picture", stays
 * connected until FILE exists (at most 10 minutes), and then exits 0 only
 * if the session is still open and frames kept coming meanwhile (a
 * connected client keeps its session across a ticket rotation).
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "osvdi-test-client.h"

#define TOLERANCE 40

int
main (int argc, char **argv)
{
  gint port = 0, tls_port = 0, seconds = 120;
  gchar *password = NULL, *host = NULL, *ca_file = NULL;
  gchar **points = NULL;
  gchar *lit = NULL, *hold = NULL;
  gint lx0 = 0, ly0 = 0, lx1 = 0, ly1 = 0, lmin = 0;
  GOptionEntry entries[] = {
    {"host", 0, 0, G_OPTION_ARG_STRING, &host, "SPICE host (127.0.0.1)",
        NULL},
    {"port", 0, 0, G_OPTION_ARG_INT, &port, "SPICE port", NULL},
    {"tls-port", 0, 0, G_OPTION_ARG_INT, &tls_port, "SPICE TLS port", NULL},
    {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
        "CA certificate for the TLS port", "FILE"},
    {"password", 0, 0, G_OPTION_ARG_STRING, &password, "ticket", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "give up after", NULL},
    {"lit", 0, 0, G_OPTION_ARG_STRING, &lit, "bright pixels wanted",
        "X0,Y0,X1,Y1,N"},
    {"hold-until", 0, 0, G_OPTION_ARG_FILENAME, &hold,
        "then stay connected until FILE exists", "FILE"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &points, NULL,
        "X,Y,RRGGBB..."},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("X,Y,RRGGBB... - SPICE probe");
  GError *error = NULL;
  OsvdiTestClientConfig cfg = { 0 };
  OsvdiTestClient *client;
  gint64 end;
  guint i, n;
  gint rc = 1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || (!port
          && !tls_port)
      || (!points && !lit) || (lit && sscanf (lit, "%d,%d,%d,%d,%d", &lx0,
              &ly0, &lx1, &ly1, &lmin) != 5))
    g_error ("usage: osvdi-spice-probe --port P [--lit X0,Y0,X1,Y1,N] "
        "X,Y,RRGGBB...");
  g_option_context_free (ctx);
  n = points ? g_strv_length (points) : 0;
  end = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  cfg.host = host;
  cfg.port = port;
  cfg.tls_port = tls_port;
  cfg.ca_file = ca_file;
  cfg.password = password;

  client = osvdi_test_client_open_until (&cfg, end);
  if (!client) {
    g_print ("no SPICE server answered on %s port %d within %d s\n",
        host ? host : "127.0.0.1", port ? port : tls_port,
        seconds);
  } else {
    gboolean all = FALSE;

    while (!all && g_get_monotonic_time () < end) {
      all = !lit || osvdi_test_client_lit_pixels (client, lx0, ly0, lx1,
          ly1) >= (guint) lmin;
      for (i = 0; i < n && all; i++) {
        gchar **f = g_strsplit (points[i], ",", 3);
        guint32 rgb;

        all = g_strv_length (f) == 3
            && osvdi_test_client_pixel (client, atoi (f[0]), atoi (f[1]),
            &rgb) && osvdi_rgb_near (rgb, strtoul (f[2], NULL, 16),
            TOLERANCE);
        g_strfreev (f);
      }
      if (!all)
        osvdi_test_client_iterate (200);
    }
    if (lit)
      g_print ("lit pixels in %d,%d-%d,%d: %u (want %d)\n", lx0, ly0, lx1,
          ly1, osvdi_test_client_lit_pixels (client, lx0, ly0, lx1, ly1),
          lmin);
    for (i = 0; i < n; i++) {
      gchar **f = g_strsplit (points[i], ",", 3);
      guint32 rgb = 0;

      osvdi_test_client_pixel (client, atoi (f[0]), atoi (f[1]), &rgb);
      g_print ("pixel %s,%s: %06x (want %s)\n", f[0], f[1], rgb, f[2]);
      g_strfreev (f);
    }
    rc = all ? 0 : 1;
    if (all && hold) {
      gint64 until = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;
      guint frames = osvdi_test_client_frames (client);
      gint event = 0;
      gboolean open;

      g_print ("probe: picture\n");
      fflush (stdout);
      while (!g_file_test (hold, G_FILE_TEST_EXISTS)
          && g_get_monotonic_time () < until)
        osvdi_test_client_iterate (100);
      open = osvdi_test_client_wait_open (client, 0, &event);
      frames = osvdi_test_client_frames (client) - frames;
      g_print ("probe: session %s (main channel event %d), %u frames while "
          "held\n", open ? "still open" : "closed", event, frames);
      rc = open && frames > 0 ? 0 : 1;
    }
    osvdi_test_client_free (client);
  }
  g_strfreev (points);
  g_free (password);
  g_free (host);
  g_free (lit);
  g_free (hold);
  g_free (ca_file);
  return rc;
}
