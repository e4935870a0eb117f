/* OSVDI - spicesink's own work per frame, for callgrind
 * SPDX-License-Identifier: Apache-2.0
 *
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=gst_spice_sink_render --toggle-collect=port_read \
 *     osvdi-bench-sinkcost --file FRAMES.h264
 *
 * Reads an H.264 byte-stream (made beforehand, outside valgrind, by
 * tests/bench/run), then pushes its access units through
 * `appsrc ! spicesink` to a real spice-client-glib client in this process.
 * Only the sink's render (queueing) and port_read (the one copy of a frame,
 * into spice-server's buffer) are counted, so the client's decoding and
 * spice-server's own work do not blur the figure. Prints the frames and
 * bytes the sink handed to spice-server as JSON.
 */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <unistd.h>

#include "osvdi-test-client.h"

static GstStructure *
stats (GstElement * sink)
{
  GstStructure *s;

  g_object_get (sink, "stats", &s, NULL);
  return s;
}

int
main (int argc, char **argv)
{
  gchar *file = NULL;
  GOptionEntry entries[] = {
    {"file", 0, 0, G_OPTION_ARG_FILENAME, &file, "H.264 byte-stream", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- spicesink per-frame cost");
  GError *error = NULL;
  GstElement *reader, *appsink, *sender, *src, *sink;
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GstCaps *caps = NULL;
  GstSample *sample;
  OsvdiTestClient *client;
  OsvdiTestClientConfig cfg = { 0 };
  GstStructure *st;
  gboolean streaming = FALSE;
  guint64 sent = 0, bytes = 0;
  gchar *desc;
  guint i;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !file)
    g_error ("usage: osvdi-bench-sinkcost --file FRAMES.h264");

  /* All access units into memory first. */
  desc = g_strdup_printf ("filesrc location=\"%s\" ! h264parse "
      "! video/x-h264,stream-format=byte-stream,alignment=au "
      "! appsink name=sink sync=false", file);
  reader = gst_parse_launch (desc, &error);
  if (!reader)
    g_error ("%s", error->message);
  g_free (desc);
  appsink = gst_bin_get_by_name (GST_BIN (reader), "sink");
  gst_element_set_state (reader, GST_STATE_PLAYING);
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (appsink)))) {
    if (!caps)
      caps = gst_caps_copy (gst_sample_get_caps (sample));
    g_ptr_array_add (frames, gst_buffer_ref (gst_sample_get_buffer (sample)));
    gst_sample_unref (sample);
  }
  gst_element_set_state (reader, GST_STATE_NULL);
  gst_object_unref (appsink);
  gst_object_unref (reader);
  if (!frames->len)
    g_error ("no frames in %s", file);

  cfg.port = osvdi_test_client_free_port ();
  desc = g_strdup_printf ("appsrc name=src is-live=true format=time "
      "! spicesink name=sink port=%d disable-ticketing=true", cfg.port);
  sender = gst_parse_launch (desc, &error);
  if (!sender)
    g_error ("%s", error->message);
  g_free (desc);
  src = gst_bin_get_by_name (GST_BIN (sender), "src");
  sink = gst_bin_get_by_name (GST_BIN (sender), "sink");
  gst_app_src_set_caps (GST_APP_SRC (src), caps);
  gst_element_set_state (sender, GST_STATE_PLAYING);

  client = osvdi_test_client_new (&cfg);
  osvdi_test_client_connect (client);
  if (!osvdi_test_client_wait_open (client, 60000, NULL))
    g_error ("client did not connect");
  for (i = 0; i < 600 && !streaming; i++) {
    osvdi_test_client_iterate (100);
    st = stats (sink);
    gst_structure_get_boolean (st, "streaming", &streaming);
    gst_structure_free (st);
  }
  if (!streaming)
    g_error ("the client never started the stream");

  /* The first access unit is the keyframe the sink waits for. */
  for (i = 0; i < frames->len; i++) {
    GstBuffer *buf = gst_buffer_copy (g_ptr_array_index (frames, i));

    GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
    gst_app_src_push_buffer (GST_APP_SRC (src), buf);
    /* Paced, so that no frame is dropped for a slow (valgrind) client. */
    osvdi_test_client_iterate (150);
  }
  osvdi_test_client_iterate (3000);

  st = stats (sink);
  gst_structure_get_uint64 (st, "frames-sent", &sent);
  gst_structure_get_uint64 (st, "bytes-sent", &bytes);
  g_print ("{\"file\": \"%s\", \"frames_pushed\": %u, \"frames_sent\": %"
      G_GUINT64_FORMAT ", \"bytes_sent\": %" G_GUINT64_FORMAT "}\n", file,
      frames->len, sent, bytes);
  gst_structure_free (st);

  osvdi_test_client_free (client);
  gst_element_set_state (sender, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (sender);
  gst_caps_unref (caps);
  g_ptr_array_unref (frames);
  g_free (file);
  return 0;
}
