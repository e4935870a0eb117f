/* OSVDI - time from a SPICE client connecting to its first picture
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-connect --encoder h264|vp8|encbin --client any|vp8
 *                       [--runs 10] [--width 1280] [--height 720]
 *
 * One pipeline (videotestsrc, live, 30 fps ! ENCODER ! spicesink) serves
 * --runs clients one after the other, each a real spice-client-glib
 * client; each run times spice_session_connect() to the client's first
 * drawn frame. --client vp8 hides every H.264 decoder from spice-gtk, so
 * the client offers VP8 and MJPEG only, as spice-html5 does.
 *
 * --encoder encbin runs spiceencbin (H.264 first): with --client vp8 every
 * run is a switch to VP8, because between two runs a client that takes
 * H.264 connects (not timed) and the bin switches back; the line also
 * gives that way's times (back_*). Prints one JSON object. Measures;
 * never fails on a number.
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "osvdi-test-client.h"

static gint width = 1280, height = 720, runs = 10;

static const gchar *
encoder_desc (const gchar * name)
{
  if (!g_strcmp0 (name, "h264"))
    return "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast "
        "key-int-max=120 ! h264parse";
  if (!g_strcmp0 (name, "vp8"))
    return "videoconvert ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=120";
  if (!g_strcmp0 (name, "encbin"))
    return "spiceencbin name=enc";
  return NULL;
}

/* Every decoder that takes H.264, as spice-gtk finds them (decoder
 * factories whose sink caps take video/x-h264): hidden from the registry
 * for a VP8-only client, given back after. */
static GList *hidden;

static void
hide_h264 (gboolean hide)
{
  GstRegistry *reg = gst_registry_get ();
  GList *l;

  if (hide) {
    GList *all = gst_element_factory_list_get_elements
        (GST_ELEMENT_FACTORY_TYPE_DECODER |
        GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO, GST_RANK_NONE);
    GstCaps *caps = gst_caps_from_string ("video/x-h264");

    hidden = gst_element_factory_list_filter (all, caps, GST_PAD_SINK, FALSE);
    gst_caps_unref (caps);
    gst_plugin_feature_list_free (all);
    for (l = hidden; l; l = l->next)
      gst_registry_remove_feature (reg, l->data);
  } else {
    for (l = hidden; l; l = l->next)
      gst_registry_add_feature (reg, l->data);
    /* add_feature took the registry's reference back; ours go. */
    gst_plugin_feature_list_free (hidden);
    hidden = NULL;
  }
}

static guint64
clients_of (GstElement * sink)
{
  GstStructure *st;
  guint64 n = 0;

  g_object_get (sink, "stats", &st, NULL);
  gst_structure_get_uint64 (st, "clients", &n);
  gst_structure_free (st);
  return n;
}

/* Milliseconds from connecting to the first frame drawn, or -1. */
static gdouble
one_run (gint port, const gchar * password, GstElement * sink)
{
  OsvdiTestClientConfig cfg = {.port = port,.password = password };
  OsvdiTestClient *client = osvdi_test_client_new (&cfg);
  gint64 t0 = g_get_monotonic_time ();
  gdouble ms = -1;
  guint i;

  if (osvdi_test_client_connect (client)
      && osvdi_test_client_wait_frames (client, 1, 20000))
    ms = (g_get_monotonic_time () - t0) / 1000.0;
  osvdi_test_client_disconnect (client);
  osvdi_test_client_free (client);
  /* The server lets the client go before the next one comes. */
  for (i = 0; i < 500 && clients_of (sink) > 0; i++)
    osvdi_test_client_iterate (10);
  return ms;
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

static void
print_stats (const gchar * prefix, GArray * t, gboolean comma)
{
  gdouble p50 = 0, p90 = 0, max = 0;

  g_array_sort (t, cmp_double);
  if (t->len) {
    p50 = g_array_index (t, gdouble, t->len / 2);
    p90 = g_array_index (t, gdouble, MIN (t->len - 1, t->len * 9 / 10));
    max = g_array_index (t, gdouble, t->len - 1);
  }
  printf ("\"%sruns\": %u, \"%sp50_ms\": %.1f, \"%sp90_ms\": %.1f, "
      "\"%smax_ms\": %.1f%s", prefix, t->len, prefix, p50, prefix, p90,
      prefix, max, comma ? ", " : "");
}

int
main (int argc, char **argv)
{
  const gchar *encoder = "h264", *client = "any", *password = "bench";
  GArray *times = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GArray *back = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GstElement *pipeline, *sink, *enc;
  GError *error = NULL;
  gchar *desc;
  gint port, i, failed = 0;
  guint switches = 0;

  gst_init (&argc, &argv);
  for (i = 1; i + 1 < argc; i += 2) {
    if (!strcmp (argv[i], "--encoder"))
      encoder = argv[i + 1];
    else if (!strcmp (argv[i], "--client"))
      client = argv[i + 1];
    else if (!strcmp (argv[i], "--runs"))
      runs = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--width"))
      width = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--height"))
      height = atoi (argv[i + 1]);
  }
  if (!encoder_desc (encoder) || (strcmp (client, "any")
          && strcmp (client, "vp8"))) {
    fprintf (stderr, "usage: %s --encoder h264|vp8|encbin --client any|vp8 "
        "[--runs N] [--width W] [--height H]\n", argv[0]);
    return 2;
  }
  port = osvdi_test_client_free_port ();
  desc = g_strdup_printf ("videotestsrc is-live=true pattern=smpte ! "
      "video/x-raw,width=%d,height=%d,framerate=30/1 ! %s ! "
      "spicesink name=sink port=%d password=%s", width, height,
      encoder_desc (encoder), port, password);
  pipeline = gst_parse_launch_full (desc, NULL, GST_PARSE_FLAG_FATAL_ERRORS,
      &error);
  if (!pipeline) {
    fprintf (stderr, "%s: %s\n", desc, error->message);
    return 1;
  }
  g_free (desc);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  enc = gst_bin_get_by_name (GST_BIN (pipeline), "enc");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  gst_element_get_state (pipeline, NULL, NULL, 10 * GST_SECOND);

  for (i = 0; i < runs; i++) {
    gdouble ms;

    if (!strcmp (client, "vp8")) {
      if (enc) {
        /* Back to H.264 first (a client that takes it), so this run is
         * a switch. */
        ms = one_run (port, password, sink);
        if (ms >= 0)
          g_array_append_val (back, ms);
      }
      hide_h264 (TRUE);
    }
    ms = one_run (port, password, sink);
    if (!strcmp (client, "vp8"))
      hide_h264 (FALSE);
    if (ms < 0)
      failed++;
    else
      g_array_append_val (times, ms);
  }
  if (enc)
    g_object_get (enc, "switches", &switches, NULL);

  printf ("{\"bench\": \"connect\", \"encoder\": \"%s\", \"client\": \"%s\", "
      "\"width\": %d, \"height\": %d, \"failed\": %d, \"switches\": %u, ",
      encoder, client, width, height, failed, switches);
  if (back->len) {
    print_stats ("back_", back, TRUE);
  }
  print_stats ("", times, FALSE);
  printf ("}\n");

  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (enc)
    gst_object_unref (enc);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_array_free (times, TRUE);
  g_array_free (back, TRUE);
  return 0;
}
