/* OSVDI - time from a SPICE client connecting to its first picture, with and
 * without a codec switch
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-codecswitch [--runs N]
 *
 * Cases, each on a fresh pipeline (videotestsrc SMPTE 1280x720 at 30 fps,
 * running before the client comes):
 *   switch        spiceencbin (started on H.264), a VP8-only client;
 *   vp8           plain vp8enc, the same VP8-only client;
 *   encbin-h264   spiceencbin, an H.264 client (no switch);
 *   h264          plain x264enc, an H.264 client.
 * A VP8-only client is spice-client-glib with the H.264 decoders hidden from
 * the registry (spice-gtk offers the codecs it finds decoders for). Times:
 * from osvdi_test_client_connect() to the first drawn frame, and to the
 * first frame whose SMPTE bars are right. Prints one JSON object with the
 * median and max of each. Never fails on a number: it measures.
 */
#include <gst/gst.h>
#include <string.h>

#include "osvdi-test-client.h"

#define PASSWORD "bench"
#define WIDTH 1280
#define HEIGHT 720

#define VP8_ENC "videoconvert ! vp8enc deadline=1 cpu-used=8 end-usage=cbr " \
  "target-bitrate=8000000 keyframe-max-dist=120 threads=2"
#define H264_ENC "videoconvert ! x264enc tune=zerolatency " \
  "speed-preset=ultrafast bitrate=8000 key-int-max=120 ! h264parse"

static gint frames_at_sink;

static GstPadProbeReturn
count_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  g_atomic_int_inc (&frames_at_sink);
  return GST_PAD_PROBE_OK;
}

static GList *
hide_h264_decoders (void)
{
  GstElementFactoryListType type = GST_ELEMENT_FACTORY_TYPE_DECODER |
      GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO | GST_ELEMENT_FACTORY_TYPE_MEDIA_IMAGE;
  const gchar *const plugins[] = { "libav", "vpx", "jpeg", "x264",
    "videoparsersbad", "openh264", "va"
  };
  GstCaps *caps = gst_caps_from_string ("video/x-h264");
  GList *all, *found, *l;
  guint i;

  /* Loading a plugin registers its features again: load them first. */
  for (i = 0; i < G_N_ELEMENTS (plugins); i++) {
    GstPlugin *p = gst_plugin_load_by_name (plugins[i]);

    if (p)
      gst_object_unref (p);
  }
  all = gst_element_factory_list_get_elements (type, GST_RANK_NONE);
  found = gst_element_factory_list_filter (all, caps, GST_PAD_SINK, FALSE);
  for (l = found; l; l = l->next)
    gst_registry_remove_feature (gst_registry_get (), l->data);
  gst_plugin_feature_list_free (all);
  gst_caps_unref (caps);
  return found;
}

/* One connection: milliseconds to the first frame and to the right
 * picture, -1 when it did not come within 20 s. */
static void
run_once (const gchar * encoder, gdouble * first, gdouble * right)
{
  gint port = osvdi_test_client_free_port ();
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true pattern=smpte ! "
      "video/x-raw,width=%d,height=%d,framerate=30/1 ! %s ! "
      "spicesink name=sink port=%d password=" PASSWORD, WIDTH, HEIGHT,
      encoder, port);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  OsvdiTestClientConfig cfg = {.port = port,.password = PASSWORD };
  OsvdiTestClient *client;
  gint64 start, end;

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_probe, NULL, NULL);
  gst_object_unref (pad);
  g_atomic_int_set (&frames_at_sink, 0);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  /* Running for a second before the client comes. */
  end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (g_atomic_int_get (&frames_at_sink) < 30
      && g_get_monotonic_time () < end)
    osvdi_test_client_iterate (10);

  client = osvdi_test_client_new (&cfg);
  start = g_get_monotonic_time ();
  osvdi_test_client_connect (client);
  *first = osvdi_test_client_wait_frames (client, 1, 20000) ?
      (g_get_monotonic_time () - start) / 1000.0 : -1;
  /* The first bar and the last: the picture is the right one. */
  *right = osvdi_test_client_wait_pixel (client, WIDTH / 14, HEIGHT / 3,
      0xffffff, 40, 20000) && osvdi_test_client_wait_pixel (client,
      13 * WIDTH / 14, HEIGHT / 3, 0x0000ff, 40, 20000) ?
      (g_get_monotonic_time () - start) / 1000.0 : -1;

  osvdi_test_client_free (client);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_free (desc);
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

/* "name": {"median_ms": .., "max_ms": .., "failed": ..} */
static void
append_stats (GString * out, const gchar * name, gdouble * v, guint n)
{
  guint failed = 0, i;

  for (i = 0; i < n; i++)
    failed += v[i] < 0;
  qsort (v, n, sizeof (gdouble), cmp_double);
  g_string_append_printf (out, "\"%s\": {\"median_ms\": %.0f, "
      "\"max_ms\": %.0f, \"failed\": %u}", name, v[n / 2], v[n - 1], failed);
}

int
main (int argc, char **argv)
{
  static const struct
  {
    const gchar *name;
    const gchar *encoder;
    gboolean vp8_only;
  } cases[] = {
    {"encbin-h264", "spiceencbin", FALSE},
    {"h264", H264_ENC, FALSE},
    {"switch", "spiceencbin", TRUE},
    {"vp8", VP8_ENC, TRUE},
  };
  gint runs = 5;
  GOptionEntry entries[] = {
    {"runs", 0, 0, G_OPTION_ARG_INT, &runs, "Connections per case", "N"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new (NULL);
  GList *hidden = NULL;
  GString *out;
  guint c;
  gint i;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, NULL) || runs < 1)
    return 2;
  g_option_context_free (ctx);

  out = g_string_new (NULL);
  g_string_append_printf (out, "{\"width\": %d, \"height\": %d, "
      "\"runs\": %d", WIDTH, HEIGHT, runs);
  for (c = 0; c < G_N_ELEMENTS (cases); c++) {
    gdouble *first = g_new0 (gdouble, runs), *right = g_new0 (gdouble, runs);

    if (cases[c].vp8_only && !hidden)
      hidden = hide_h264_decoders ();
    for (i = 0; i < runs; i++)
      run_once (cases[c].encoder, &first[i], &right[i]);
    g_string_append_printf (out, ",\n  \"%s\": {", cases[c].name);
    append_stats (out, "first_frame", first, runs);
    g_string_append (out, ", ");
    append_stats (out, "right_picture", right, runs);
    g_string_append (out, "}");
    g_free (first);
    g_free (right);
  }
  g_print ("%s\n}\n", out->str);
  g_string_free (out, TRUE);
  gst_plugin_feature_list_free (hidden);
  return 0;
}
