/* OSVDI - latency from a frame entering the pipeline to a real SPICE client
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-latency --path floor|appsink|overlay [--width W] [--height H]
 *                       [--fps F] [--seconds S] [--bitrate KBPS]
 *
 * A pad probe writes the frame number as a 16-block barcode into the top of
 * each raw frame and notes the time (GStreamer's monotonic clock, shared by
 * sender and receiver: same process). The receiver reads the barcode back
 * from decoded pixels and notes when it saw each number:
 *   floor    x264enc ! rtph264pay ! udpsink -> udpsrc ! rtph264depay !
 *            avdec_h264 ! appsink, on loopback (no SPICE at all);
 *   appsink  spicesink -> spice-client-glib's default path (decoded frames
 *            drawn on the primary surface, scheduled by the media clock);
 *   overlay  spicesink -> spice-client-glib's GstVideoOverlay path, the one
 *            remote-viewer uses on X11 (frames reach the video sink).
 * Prints one JSON object: frames sent, frames seen, lost, and p50/p95/max of
 * the latency in milliseconds. Never fails on a number: it measures.
 */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <string.h>
#include <unistd.h>

#include "osvdi-test-client.h"

#define BITS 16
#define MAX_FRAMES 65536

typedef struct
{
  gint width, height, fps, seconds, bitrate;
  const gchar *path;
  gboolean no_frame_end, audio, no_audio_clock;
  gint64 sent_at[MAX_FRAMES];   /* us, 0: not sent */
  gint64 seen_at[MAX_FRAMES];   /* us, 0: not seen */
  guint counter;
  gboolean counting;            /* frames count only once the client runs */
  guint sent, seen;
  GMutex lock;
} Bench;

static gint
band_height (Bench * b)
{
  return MAX (16, b->height / 24) & ~1;
}

/* Writes the frame number into the Y plane (U and V neutral): bit i is
 * block i of a band across the top, white for 1, black for 0. */
static GstPadProbeReturn
stamp_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Bench *b = data;
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstVideoInfo vinfo;
  GstVideoFrame frame;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  guint n, i, y;
  gint bw = b->width / BITS, bh = band_height (b);

  gst_video_info_from_caps (&vinfo, caps);
  gst_caps_unref (caps);
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  if (!gst_video_frame_map (&frame, &vinfo, buf, GST_MAP_WRITE))
    return GST_PAD_PROBE_OK;

  g_mutex_lock (&b->lock);
  n = b->counter++ % MAX_FRAMES;
  if (b->counting) {
    b->sent_at[n] = g_get_monotonic_time ();
    b->seen_at[n] = 0;
    b->sent++;
  } else {
    b->sent_at[n] = 0;
  }
  g_mutex_unlock (&b->lock);

  for (y = 0; y < (guint) bh; y++) {
    guint8 *row = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

    for (i = 0; i < BITS; i++)
      memset (row + i * bw, (n >> i) & 1 ? 235 : 16, bw);
  }
  for (i = 1; i <= 2; i++)
    for (y = 0; y < (guint) bh / 2; y++)
      memset ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, i)
          + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, i), 128,
          GST_VIDEO_FRAME_COMP_WIDTH (&frame, i));
  gst_video_frame_unmap (&frame);
  return GST_PAD_PROBE_OK;
}

/* Reads the number back from 32-bit B G R x pixels. */
static void
read_barcode (Bench * b, const guint8 * pixels, gint stride, gint width,
    gint height)
{
  gint bw = width / BITS, y = band_height (b) / 2;
  guint n = 0, i;
  gint64 now = g_get_monotonic_time ();

  if (width != b->width || height != b->height)
    return;
  for (i = 0; i < BITS; i++) {
    const guint8 *p = pixels + (gsize) y * stride
        + (gsize) (i * bw + bw / 2) * 4;

    if (p[1] > 128)
      n |= 1u << i;
  }
  g_mutex_lock (&b->lock);
  if (b->sent_at[n] && !b->seen_at[n]) {
    b->seen_at[n] = now;
    b->seen++;
  }
  g_mutex_unlock (&b->lock);
}

static GstFlowReturn
on_sample (GstAppSink * sink, gpointer data)
{
  Bench *b = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstVideoInfo vinfo;
  GstVideoFrame frame;

  if (!sample)
    return GST_FLOW_ERROR;
  if (gst_video_info_from_caps (&vinfo, gst_sample_get_caps (sample))
      && gst_video_frame_map (&frame, &vinfo, gst_sample_get_buffer (sample),
          GST_MAP_READ)) {
    read_barcode (b, GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), vinfo.width, vinfo.height);
    gst_video_frame_unmap (&frame);
  }
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static gpointer
make_overlay_sink (gpointer data)
{
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  GstCaps *caps = gst_caps_from_string ("video/x-raw,format=BGRx");
  GstAppSinkCallbacks cb = {.new_sample = on_sample };

  /* What a video sink gets, before it waits for its clock to draw. */
  g_object_set (sink, "caps", caps, "sync", FALSE, NULL);
  gst_caps_unref (caps);
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, data, NULL);
  return sink;
}

static void
on_client_frame (OsvdiTestClient * client, gpointer data)
{
  Bench *b = data;
  guint8 *pixels;
  gint stride, w, h;

  if (osvdi_test_client_primary (client, &pixels, &stride, &w, &h))
    read_barcode (b, pixels, stride, w, h);
}

static gint
cmp_i64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
check_bus (GstElement * pipeline)
{
  GstMessage *msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
      GST_MESSAGE_ERROR);

  if (msg) {
    GError *err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    g_printerr ("pipeline error: %s\n", err->message);
    exit (1);
  }
}

int
main (int argc, char **argv)
{
  static Bench bench;
  Bench *b = &bench;
  GOptionEntry entries[] = {
    {"path", 0, 0, G_OPTION_ARG_STRING, &b->path, "floor, appsink or overlay",
        NULL},
    {"width", 0, 0, G_OPTION_ARG_INT, &b->width, NULL, NULL},
    {"height", 0, 0, G_OPTION_ARG_INT, &b->height, NULL, NULL},
    {"fps", 0, 0, G_OPTION_ARG_INT, &b->fps, NULL, NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &b->seconds, NULL, NULL},
    {"bitrate", 0, 0, G_OPTION_ARG_INT, &b->bitrate, "kbit/s", NULL},
    {"no-frame-end", 0, 0, G_OPTION_ARG_NONE, &b->no_frame_end,
        "spicesink h264-frame-end=false", NULL},
    {"no-audio-clock", 0, 0, G_OPTION_ARG_NONE, &b->no_audio_clock,
        "spicesink audio-clock=false", NULL},
    {"audio", 0, 0, G_OPTION_ARG_NONE, &b->audio,
        "the client plays audio (as remote-viewer does)", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- OSVDI latency benchmark");
  GError *error = NULL;
  GstElement *sender, *receiver = NULL;
  OsvdiTestClient *client = NULL;
  gchar *desc, *encoder;
  GstPad *pad;
  GstElement *src;
  gint port = osvdi_test_client_free_port ();
  gint64 end;
  GArray *lat;
  guint i;

  b->path = "appsink";
  b->width = 1280;
  b->height = 720;
  b->fps = 30;
  b->seconds = 20;
  b->bitrate = 8000;
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    g_error ("%s", error->message);
  g_mutex_init (&b->lock);

  encoder = g_strdup_printf ("x264enc tune=zerolatency speed-preset=ultrafast "
      "bitrate=%d key-int-max=%d", b->bitrate, b->fps * 2);
  if (g_str_equal (b->path, "floor"))
    desc = g_strdup_printf ("videotestsrc name=src is-live=true pattern=ball "
        "! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s "
        "! rtph264pay config-interval=-1 ! udpsink host=127.0.0.1 port=%d "
        "sync=false", b->width, b->height, b->fps, encoder, port);
  else
    desc = g_strdup_printf ("videotestsrc name=src is-live=true pattern=ball "
        "! video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s "
        "! h264parse ! spicesink port=%d disable-ticketing=true "
        "h264-frame-end=%s audio-clock=%s", b->width, b->height, b->fps,
        encoder, port, b->no_frame_end ? "false" : "true",
        b->no_audio_clock ? "false" : "true");
  sender = gst_parse_launch (desc, &error);
  if (!sender)
    g_error ("%s: %s", desc, error->message);
  g_free (desc);
  src = gst_bin_get_by_name (GST_BIN (sender), "src");
  pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_probe, b, NULL);
  gst_object_unref (pad);
  gst_object_unref (src);

  if (g_str_equal (b->path, "floor")) {
    GstElement *sink;
    GstAppSinkCallbacks cb = {.new_sample = on_sample };

    desc = g_strdup_printf ("udpsrc port=%d caps=\"application/x-rtp,"
        "media=video,encoding-name=H264,clock-rate=90000,payload=96\" "
        "! rtph264depay ! avdec_h264 ! videoconvert "
        "! video/x-raw,format=BGRx ! appsink name=sink sync=false", port);
    receiver = gst_parse_launch (desc, &error);
    if (!receiver)
      g_error ("%s: %s", desc, error->message);
    g_free (desc);
    sink = gst_bin_get_by_name (GST_BIN (receiver), "sink");
    gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, b, NULL);
    gst_object_unref (sink);
    gst_element_set_state (receiver, GST_STATE_PLAYING);
  }
  gst_element_set_state (sender, GST_STATE_PLAYING);

  if (!receiver) {
    OsvdiTestClientConfig cfg = {.port = port,.audio = b->audio };

    client = osvdi_test_client_new (&cfg);
    if (g_str_equal (b->path, "overlay"))
      osvdi_test_client_use_overlay_sink (client, make_overlay_sink, b);
    else
      osvdi_test_client_set_frame_func (client, on_client_frame, b);
    osvdi_test_client_connect (client);
    if (!osvdi_test_client_wait_open (client, 10000, NULL))
      g_error ("the SPICE client did not connect");
  }
  /* Warm-up (connection, first keyframe, 400 ms media clock), then count. */
  osvdi_test_client_iterate (2000);
  g_mutex_lock (&b->lock);
  b->counting = TRUE;
  g_mutex_unlock (&b->lock);
  end = g_get_monotonic_time () + (gint64) b->seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end) {
    osvdi_test_client_iterate (100);
    check_bus (sender);
  }
  g_mutex_lock (&b->lock);
  b->counting = FALSE;
  g_mutex_unlock (&b->lock);
  /* Frames in flight at the end still count if they arrive within 1 s. */
  osvdi_test_client_iterate (1000);

  lat = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_mutex_lock (&b->lock);
  for (i = 0; i < MAX_FRAMES; i++)
    if (b->sent_at[i] && b->seen_at[i]) {
      gint64 d = b->seen_at[i] - b->sent_at[i];

      g_array_append_val (lat, d);
    }
  g_mutex_unlock (&b->lock);
  g_array_sort (lat, cmp_i64);
#define PCT(p) (lat->len ? g_array_index (lat, gint64, \
      MIN (lat->len - 1, (guint) ((p) * lat->len))) / 1000.0 : -1.0)
  g_print ("{\"path\": \"%s\", \"frame_end\": %s, \"audio_clock\": %s, "
      "\"client_audio\": %s, \"width\": %d, \"height\": %d, \"fps\": %d, "
      "\"seconds\": %d, \"sent\": %u, \"seen\": %u, \"lost\": %u, "
      "\"p50_ms\": %.1f, \"p95_ms\": %.1f, \"max_ms\": %.1f}\n", b->path,
      b->no_frame_end ? "false" : "true",
      b->no_audio_clock ? "false" : "true", b->audio ? "true" : "false",
      b->width, b->height, b->fps, b->seconds, b->sent, b->seen,
      b->sent - b->seen, PCT (0.5), PCT (0.95), PCT (1.0));

  if (client)
    osvdi_test_client_free (client);
  gst_element_set_state (sender, GST_STATE_NULL);
  gst_object_unref (sender);
  if (receiver) {
    gst_element_set_state (receiver, GST_STATE_NULL);
    gst_object_unref (receiver);
  }
  g_array_unref (lat);
  g_free (encoder);
  return 0;
}
