/* OSVDI - spiceencbin: each SPICE client gets a codec it decodes
 * SPDX-License-Identifier: Apache-2.0
 *
 * Real pipelines (a raw source, spiceencbin, spicesink with its embedded
 * spice-server) and real spice-client-glib sessions in the same process, on
 * loopback. spice-gtk offers only the codecs it finds GStreamer decoders for,
 * so a "VP8-only client" is a client created while the H.264 decoders are
 * hidden from the registry. Then the bin alone, against a capsfilter whose
 * caps change, for bad settings and for many switches.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <string.h>
#include "osvdi-check-util.h"
#include "osvdi-check-client.h"
#include "osvdi-test-client.h"

#define PASSWORD "s3cret-ticket"
#define WIDTH 320
#define HEIGHT 240
/* ------------------------------------------------------------------------ */
/* Hiding decoders from the client                                          */

/* spice-gtk 0.42 (channel-display-gst.c, gstvideo_has_codec) offers a codec
 * when any factory of type DECODER | MEDIA_VIDEO | MEDIA_IMAGE, of any rank,
 * takes its caps on a sink pad (gst_element_factory_list_filter, not subset
 * only). The same filter finds what to hide: avdec_h264 here, openh264dec,
 * vah264dec or others elsewhere. Returns the hidden features (ours). */
static GList *
hide_decoders (const gchar * caps_str)
{
  GstElementFactoryListType type = GST_ELEMENT_FACTORY_TYPE_DECODER |
      GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO | GST_ELEMENT_FACTORY_TYPE_MEDIA_IMAGE;
  GList *all, *found, *l;
  GstCaps *caps = gst_caps_from_string (caps_str);
  const gchar *const plugins[] = { "libav", "vpx", "jpeg", "x264",
    "videoparsersbad"
  };
  guint i;

  /* Loading a plugin (re)registers its features: load the ones with
   * decoders first, so that none comes back while the client runs. */
  for (i = 0; i < G_N_ELEMENTS (plugins); i++) {
    GstPlugin *p = gst_plugin_load_by_name (plugins[i]);

    if (p)
      gst_object_unref (p);
  }
  all = gst_element_factory_list_get_elements (type, GST_RANK_NONE);
  found = gst_element_factory_list_filter (all, caps, GST_PAD_SINK, FALSE);
  for (l = found; l; l = l->next) {
    GST_INFO ("hiding %s", GST_OBJECT_NAME (l->data));
    gst_registry_remove_feature (gst_registry_get (), l->data);
  }
  gst_plugin_feature_list_free (all);
  gst_caps_unref (caps);
  fail_unless (found != NULL, "no decoder for %s to hide", caps_str);
  return found;
}

static void
unhide_decoders (GList * hidden)
{
  GList *l;

  for (l = hidden; l; l = l->next)
    gst_registry_add_feature (gst_registry_get (), l->data);
  gst_plugin_feature_list_free (hidden);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */

typedef struct
{
  GstElement *pipeline;
  GstElement *sink;
  GstElement *enc;
  GstElement *src;
  gint port;
} Session;

/* @desc: the pipeline before spicesink, with a "src" and an "enc". */
static Session *
session_new (const gchar * desc)
{
  Session *s = g_new0 (Session, 1);
  GError *error = NULL;
  gchar *full;

  s->port = osvdi_test_free_port (NULL);
  full = g_strdup_printf ("%s ! spicesink name=sink port=%d password="
      PASSWORD, desc, s->port);
  s->pipeline = gst_parse_launch (full, &error);
  fail_unless (s->pipeline, "%s: %s", full, error ? error->message : "");
  g_free (full);
  s->sink = gst_bin_get_by_name (GST_BIN (s->pipeline), "sink");
  s->src = gst_bin_get_by_name (GST_BIN (s->pipeline), "src");
  s->enc = gst_bin_get_by_name (GST_BIN (s->pipeline), "enc");
  fail_unless (s->sink && s->src && s->enc);
  return s;
}

static void
session_play (Session * s)
{
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (s->pipeline, NULL, NULL,
          10 * GST_SECOND) != GST_STATE_CHANGE_FAILURE);
  osvdi_test_check_bus (s->pipeline);
}

#define SMPTE_SOURCE "videotestsrc name=src is-live=true pattern=smpte " \
  "! video/x-raw,width=320,height=240,framerate=30/1"

static Session *
session_start (const gchar * encoder)
{
  gchar *desc = g_strdup_printf (SMPTE_SOURCE " ! %s", encoder);
  Session *s = session_new (desc);

  g_free (desc);
  session_play (s);
  return s;
}

static void
session_stop (Session * s)
{
  osvdi_test_check_bus (s->pipeline);
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (s->sink);
  gst_object_unref (s->src);
  gst_object_unref (s->enc);
  gst_object_unref (s->pipeline);
  g_free (s);
}

static guint64
stat_u64 (Session * s, const gchar * field)
{
  GstStructure *st;
  guint64 v = 0;
  guint u;

  g_object_get (s->sink, "stats", &st, NULL);
  if (!gst_structure_get_uint64 (st, field, &v) &&
      gst_structure_get_uint (st, field, &u))
    v = u;
  gst_structure_free (st);
  return v;
}

static gchar *
stat_codec (Session * s)
{
  GstStructure *st;
  gchar *v;

  g_object_get (s->sink, "stats", &st, NULL);
  v = g_strdup (gst_structure_get_string (st, "codec"));
  gst_structure_free (st);
  return v;
}

static void
assert_codecs (Session * s, const gchar * codec)
{
  gchar *c = stat_codec (s);
  gchar *e = NULL;

  g_object_get (s->enc, "codec", &e, NULL);
  fail_unless_equals_string (c, codec);
  fail_unless_equals_string (e, codec);
  g_free (c);
  g_free (e);
}

static guint
enc_switches (Session * s)
{
  guint n;

  g_object_get (s->enc, "switches", &n, NULL);
  return n;
}

static OsvdiTestClient *
client_open (Session * s)
{
  OsvdiTestClientConfig cfg = {.port = s->port,.password = PASSWORD };
  OsvdiTestClient *client = osvdi_test_client_new (&cfg);
  gint event;

  fail_unless (osvdi_test_client_connect (client));
  fail_unless (osvdi_test_client_wait_open (client, 10000, &event),
      "client did not connect (channel event %d)", event);
  return client;
}

static void
client_close (Session * s, OsvdiTestClient * client)
{
  gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  osvdi_test_client_free (client);
  while (stat_u64 (s, "clients") > 0 && g_get_monotonic_time () < end)
    osvdi_test_client_iterate (10);
  fail_unless_equals_int (stat_u64 (s, "clients"), 0);
}

/* The picture is live: a colour change upstream reaches the client. */
static void
check_live (Session * s, OsvdiTestClient * client, gint pattern, guint32 rgb)
{
  g_object_set (s->src, "pattern", pattern, NULL);
  fail_unless (osvdi_test_client_wait_pixel (client, WIDTH / 2, HEIGHT / 2,
          rgb, LOSSY_TOLERANCE, 10000), "colour %06x never arrived", rgb);
  g_object_set (s->src, "pattern", 0 /* smpte */ , NULL);
}

/* The osvdi-codec-switch messages on @bus so far, as "from>to" joined with
 * spaces; an error or a warning there fails the test. */
static gchar *
pop_switch_messages (GstBus * bus, GstElement * enc)
{
  GString *str = g_string_new (NULL);
  GstMessage *msg;

  while ((msg = gst_bus_pop (bus))) {
    const GstStructure *st = gst_message_get_structure (msg);

    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR
        || GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
      GError *err = NULL;

      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
        gst_message_parse_error (msg, &err, NULL);
      else
        gst_message_parse_warning (msg, &err, NULL);
      fail ("%s from %s: %s", GST_MESSAGE_TYPE_NAME (msg),
          GST_MESSAGE_SRC_NAME (msg), err->message);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (st, "osvdi-codec-switch")) {
      fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (enc));
      g_string_append_printf (str, "%s%s>%s", str->len ? " " : "",
          gst_structure_get_string (st, "from"),
          gst_structure_get_string (st, "to"));
    }
    gst_message_unref (msg);
  }
  return g_string_free (str, FALSE);
}

static gchar *
session_switches (Session * s)
{
  return pop_switch_messages (GST_ELEMENT_BUS (s->pipeline), s->enc);
}

static GstMessage *
wait_warning (Session * s, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  GstMessage *msg = NULL;

  while (!msg && g_get_monotonic_time () < end) {
    msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (s->pipeline),
        GST_MESSAGE_WARNING);
    if (!msg)
      osvdi_test_client_iterate (10);
  }
  return msg;
}

#define ENCBIN "spiceencbin name=enc"

/* ------------------------------------------------------------------------ */
/* Against real clients                                                     */

GST_START_TEST (test_h264_client)
{
  Session *s = session_start (ENCBIN);
  OsvdiTestClient *client = client_open (s);
  gchar *switches;

  fail_unless (osvdi_test_client_wait_frames (client, 5, 10000),
      "no frames drawn");
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  assert_codecs (s, "h264");
  check_live (s, client, 4, 0xff0000);
  fail_unless_equals_int (enc_switches (s), 0);
  switches = session_switches (s);
  fail_unless_equals_string (switches, "");
  g_free (switches);
  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

GST_START_TEST (test_vp8_client_switches)
{
  Session *s = session_start (ENCBIN);
  OsvdiTestClient *client;
  GList *hidden;
  gchar *switches, *codec;
  gint64 start;

  /* With no client the bin starts on its first choice. */
  g_object_get (s->enc, "codec", &codec, NULL);
  fail_unless_equals_string (codec, "h264");
  g_free (codec);

  hidden = hide_decoders ("video/x-h264");
  start = g_get_monotonic_time ();
  client = client_open (s);
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  GST_INFO ("VP8-only client: the right picture %" G_GINT64_FORMAT
      " ms after connecting", (g_get_monotonic_time () - start) / 1000);
  /* The session lives on: same client, now on VP8. */
  assert_codecs (s, "vp8");
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);
  fail_unless_equals_int (enc_switches (s), 1);
  check_live (s, client, 5, 0x00ff00);
  switches = session_switches (s);
  fail_unless_equals_string (switches, "h264>vp8");
  g_free (switches);
  client_close (s, client);

  /* An H.264 client next: back to H.264 (the last client leaving sends
   * START_STOP with no codec: the whole template again, first choice). */
  unhide_decoders (hidden);
  client = client_open (s);
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  assert_codecs (s, "h264");
  fail_unless_equals_int (enc_switches (s), 2);
  check_live (s, client, 6, 0x0000ff);
  switches = session_switches (s);
  fail_unless_equals_string (switches, "vp8>h264");
  g_free (switches);
  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

GST_START_TEST (test_vp8_client_before_start)
{
  Session *s = session_new (SMPTE_SOURCE " ! " ENCBIN);
  GstPad *pad = gst_element_get_static_pad (s->sink, "sink");
  OsvdiTestClient *client;
  GList *hidden;
  GstCaps *caps = NULL;
  gchar *str;
  gint64 end;

  /* The server runs from READY: the client starts the stream there, and
   * the sink's caps follow it. */
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  hidden = hide_decoders ("video/x-h264");
  client = client_open (s);
  end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  do {
    GstCaps *h264 = gst_caps_from_string ("video/x-h264");

    osvdi_test_client_iterate (10);
    gst_clear_caps (&caps);
    caps = gst_pad_query_caps (pad, NULL);
    if (!gst_caps_can_intersect (caps, h264)
        && !gst_caps_is_empty (caps)) {
      gst_caps_unref (h264);
      break;
    }
    gst_caps_unref (h264);
  } while (g_get_monotonic_time () < end);
  str = gst_caps_to_string (caps);
  GST_INFO ("sink caps with the client: %s", str);
  /* spice-server's order (its codec enum's), MJPEG first and always there,
   * then VP8 (VP9 and H.265 follow where their decoders are installed). */
  fail_unless (caps && gst_caps_get_size (caps) >= 2, "%s", str);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0),
          "image/jpeg"), "%s", str);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 1),
          "video/x-vp8"), "%s", str);
  g_free (str);
  gst_caps_unref (caps);
  gst_object_unref (pad);

  session_play (s);
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  assert_codecs (s, "vp8");
  fail_unless_equals_int (enc_switches (s), 0);
  osvdi_test_client_free (client);
  session_stop (s);
  unhide_decoders (hidden);
}

GST_END_TEST;

/* A still source: one frame at start, then only when asked (osvdi/refresh,
 * as vfiodmabufsrc on QEMU's display does). */
typedef struct
{
  GstBuffer *frame;
  GstElement *appsrc;
  gint refreshes;
  gint buffers_at_sink;
} Still;

static void
still_push (Still * st)
{
  fail_unless (gst_app_src_push_buffer (GST_APP_SRC (st->appsrc),
          gst_buffer_copy (st->frame)) == GST_FLOW_OK);
}

static GstPadProbeReturn
still_refresh_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Still *st = data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_UPSTREAM
      && gst_event_has_name (event, "osvdi/refresh")) {
    g_atomic_int_inc (&st->refreshes);
    /* appsrc queues it: safe from any thread. */
    still_push (st);
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_probe (GstPad * pad, GstPadProbeInfo * info, gpointer counter)
{
  g_atomic_int_inc ((gint *) counter);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_still_source_switch)
{
  Session *s = session_new ("appsrc name=src is-live=true format=time "
      "do-timestamp=true caps=video/x-raw,format=BGRx,width=320,height=240,"
      "framerate=30/1 ! " ENCBIN);
  Still st = { NULL, };
  GstPad *pad;
  OsvdiTestClient *client;
  GList *hidden;
  GstMapInfo map;
  gint64 end;
  guint i;

  /* Green, as B G R x. */
  st.frame = gst_buffer_new_allocate (NULL, WIDTH * HEIGHT * 4, NULL);
  fail_unless (gst_buffer_map (st.frame, &map, GST_MAP_WRITE));
  for (i = 0; i < WIDTH * HEIGHT; i++) {
    map.data[4 * i] = 0;
    map.data[4 * i + 1] = 0xff;
    map.data[4 * i + 2] = 0;
    map.data[4 * i + 3] = 0xff;
  }
  gst_buffer_unmap (st.frame, &map);
  st.appsrc = s->src;
  pad = gst_element_get_static_pad (s->src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      still_refresh_probe, &st, NULL);
  gst_object_unref (pad);
  pad = gst_element_get_static_pad (s->sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_probe,
      &st.buffers_at_sink, NULL);
  gst_object_unref (pad);

  session_play (s);
  still_push (&st);
  end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (g_atomic_int_get (&st.buffers_at_sink) < 1
      && g_get_monotonic_time () < end)
    osvdi_test_client_iterate (10);
  fail_unless (g_atomic_int_get (&st.buffers_at_sink) >= 1,
      "the one frame never reached the sink");
  fail_unless_equals_int (g_atomic_int_get (&st.refreshes), 0);

  /* Nothing more comes from the source unless the bin asks for it. */
  hidden = hide_decoders ("video/x-h264");
  client = client_open (s);
  fail_unless (osvdi_test_client_wait_pixel (client, WIDTH / 2, HEIGHT / 2,
          0x00ff00, LOSSY_TOLERANCE, 10000),
      "a still screen never reached the switched client");
  assert_codecs (s, "vp8");
  fail_unless_equals_int (enc_switches (s), 1);
  fail_unless (g_atomic_int_get (&st.refreshes) >= 1);
  osvdi_test_client_free (client);
  session_stop (s);
  gst_buffer_unref (st.frame);
  unhide_decoders (hidden);
}

GST_END_TEST;

GST_START_TEST (test_no_codec_for_client)
{
  /* Only H.264 configured; a VP8-only client: the sink finds that the bin
   * cannot follow and warns, then offers H.264 after the client's codecs
   * (so the bin keeps it without a warning of its own); nothing is sent
   * and nothing breaks. */
  Session *s = session_start ("spiceencbin name=enc codecs=h264");
  OsvdiTestClient *client;
  GList *hidden = hide_decoders ("video/x-h264");
  GstMessage *msg;
  GError *err = NULL;

  client = client_open (s);
  msg = wait_warning (s, 10000);
  fail_unless (msg != NULL, "no warning");
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (s->sink), "%s from %s",
      err->message, GST_MESSAGE_SRC_NAME (msg));
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_CODEC_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, "cannot decode h264")
      && strstr (err->message, "vp8"), "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  osvdi_test_client_iterate (500);
  assert_codecs (s, "h264");
  fail_unless_equals_int (stat_u64 (s, "frames-sent"), 0);
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);
  fail_unless_equals_int (enc_switches (s), 0);
  osvdi_test_client_free (client);
  session_stop (s);
  unhide_decoders (hidden);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* The bin alone                                                            */

static GError *
ready_error (GstElement * enc)
{
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;

  gst_element_set_bus (enc, bus);
  fail_unless (gst_element_set_state (enc, GST_STATE_READY)
      == GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, NULL);
  gst_message_unref (msg);
  fail_unless (gst_element_set_state (enc, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus (enc, NULL);
  gst_object_unref (bus);
  return err;
}

GST_START_TEST (test_bad_settings)
{
  GstElement *enc = gst_element_factory_make ("spiceencbin", NULL);
  GError *err;

  fail_unless (enc != NULL);
  /* A description that does not parse. */
  g_object_set (enc, "h264-encoder", "videoconvert ! ! x264enc", NULL);
  err = ready_error (enc);
  fail_unless (err->domain == GST_RESOURCE_ERROR, "%s", err->message);
  fail_unless (strstr (err->message, "h264-encoder"), "%s", err->message);
  g_clear_error (&err);

  /* An element that is not installed, in a codec further down the list. */
  g_object_set (enc, "h264-encoder", "videoconvert ! x264enc ! h264parse",
      "vp8-encoder", "videoconvert ! no-such-encoder", NULL);
  err = ready_error (enc);
  fail_unless (g_error_matches (err, GST_CORE_ERROR,
          GST_CORE_ERROR_MISSING_PLUGIN), "%s", err->message);
  fail_unless (strstr (err->message, "vp8-encoder")
      && strstr (err->message, "no-such-encoder"), "%s", err->message);
  g_clear_error (&err);

  /* A branch without an encoded output. */
  g_object_set (enc, "vp8-encoder", "videoconvert ! fakesink", NULL);
  err = ready_error (enc);
  fail_unless (strstr (err->message, "vp8-encoder"), "%s", err->message);
  g_clear_error (&err);

  /* An unknown codec name. */
  g_object_set (enc, "vp8-encoder", "vp8enc", "codecs", "h264, av1", NULL);
  err = ready_error (enc);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS), "%s", err->message);
  fail_unless (strstr (err->message, "av1")
      && strstr (err->message, "codecs"), "%s", err->message);
  g_clear_error (&err);

  /* A codec without a branch (h265 is not offered by default). */
  g_object_set (enc, "codecs", "h265", NULL);
  err = ready_error (enc);
  fail_unless (strstr (err->message, "h265-encoder"), "%s", err->message);
  g_clear_error (&err);

  /* And it still works once the settings are right. */
  g_object_set (enc, "codecs", "vp8,mjpeg", NULL);
  fail_unless (gst_element_set_state (enc, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_set_state (enc, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (enc);
}

GST_END_TEST;

GST_START_TEST (test_no_codec_downstream)
{
  GstElement *p = gst_parse_launch ("videotestsrc is-live=true ! "
      "spiceencbin name=enc codecs=vp8,h264 ! capsfilter name=cf ! "
      "fakesink", NULL);
  GstElement *enc = gst_bin_get_by_name (GST_BIN (p), "enc");
  GstElement *cf = gst_bin_get_by_name (GST_BIN (p), "cf");
  GstCaps *caps = gst_caps_from_string ("image/jpeg");
  GstMessage *msg;
  GError *err = NULL;
  gchar *codec;

  /* Set once linked (the link would fail otherwise). */
  g_object_set (cf, "caps", caps, NULL);
  gst_caps_unref (caps);
  gst_object_unref (cf);

  fail_unless (gst_element_set_state (p, GST_STATE_PAUSED)
      == GST_STATE_CHANGE_NO_PREROLL);
  msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_WARNING);
  fail_unless (msg != NULL, "no warning");
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (enc));
  fail_unless (strstr (err->message, "image/jpeg")
      && strstr (err->message, "vp8,h264"), "%s", err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  /* It runs the first one anyway. */
  g_object_get (enc, "codec", &codec, NULL);
  fail_unless_equals_string (codec, "vp8");
  g_free (codec);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (enc);
  gst_object_unref (p);
}

GST_END_TEST;

static const struct
{
  const gchar *caps;            /* downstream takes */
  const gchar *codec;           /* the bin then uses */
} cycle[] = {
  {"video/x-vp8", "vp8"},
  {"image/jpeg", "mjpeg"},
  {"video/x-h264", "h264"},
  {"video/x-vp8; image/jpeg", "vp8"},
  {"image/jpeg; video/x-h264", "h264"},
};

/* Pushes frames until one comes out with caps named @name (a few frames at
 * most: every branch encodes one frame per frame, starting with a
 * keyframe). */
/* The stream's sticky events reached @codec's branch after the switch (its
 * pads lost them when it was last stopped). */
static void
check_sticky (GstElement * enc, const gchar * codec)
{
  gchar *name = g_strdup_printf ("%s-branch", codec);
  GstElement *branch = gst_bin_get_by_name (GST_BIN (enc), name);
  GstPad *pad;
  const GstEventType types[] = { GST_EVENT_STREAM_START, GST_EVENT_CAPS,
    GST_EVENT_SEGMENT
  };
  guint i;

  fail_unless (branch != NULL, "no %s in the bin", name);
  pad = gst_element_get_static_pad (branch, "sink");
  for (i = 0; i < G_N_ELEMENTS (types); i++) {
    GstEvent *event = gst_pad_get_sticky_event (pad, types[i], 0);

    fail_unless (event != NULL, "%s has no %s event", name,
        gst_event_type_get_name (types[i]));
    gst_event_unref (event);
  }
  gst_object_unref (pad);
  gst_object_unref (branch);
  g_free (name);
}

static void
harness_wait_codec (GstHarness * h, const gchar * name)
{
  guint i;

  for (i = 0; i < 10; i++) {
    GstBuffer *buf;
    GstCaps *caps;
    gboolean match;

    fail_unless_equals_int (gst_harness_push_from_src (h), GST_FLOW_OK);
    buf = gst_harness_try_pull (h);
    if (!buf)
      continue;
    caps = gst_pad_get_current_caps (h->sinkpad);
    match = gst_structure_has_name (gst_caps_get_structure (caps, 0), name);
    if (match)
      fail_if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT),
          "the new branch did not start with a keyframe");
    gst_caps_unref (caps);
    gst_buffer_unref (buf);
    if (match) {
      /* What is still in the harness came before the switch. */
      while ((buf = gst_harness_try_pull (h)))
        gst_buffer_unref (buf);
      return;
    }
  }
  fail ("no %s output after 10 frames", name);
}

static const gchar *
codec_caps_name (const gchar * codec)
{
  if (g_str_equal (codec, "vp8"))
    return "video/x-vp8";
  if (g_str_equal (codec, "mjpeg"))
    return "image/jpeg";
  return "video/x-h264";
}

GST_START_TEST (test_harness_switches)
{
  GstHarness *h = gst_harness_new_parse ("spiceencbin name=enc "
      "h264-encoder=\"videoconvert ! x264enc tune=zerolatency "
      "speed-preset=ultrafast key-int-max=1000 ! h264parse\" ! "
      "capsfilter name=cf");
  GstElement *enc = gst_bin_get_by_name (GST_BIN (h->element), "enc");
  GstElement *cf = gst_bin_get_by_name (GST_BIN (h->element), "cf");
  GstBus *bus = gst_bus_new ();
  GstEvent *event;
  guint i, switches, refreshes = 0, reconfigures = 0;
  gchar *codec, *list, **msgs = NULL;

  gst_element_set_bus (h->element, bus);
  gst_harness_add_src_parse (h, "videotestsrc pattern=ball ! capsfilter "
      "caps=video/x-raw,format=I420,width=64,height=48,framerate=30/1", FALSE);
  harness_wait_codec (h, "video/x-h264");

  for (i = 0; i < 20; i++) {
    GstCaps *caps = gst_caps_from_string (cycle[i % G_N_ELEMENTS (cycle)].caps);
    const gchar *want = cycle[i % G_N_ELEMENTS (cycle)].codec;

    /* capsfilter sends RECONFIGURE upstream. */
    g_object_set (cf, "caps", caps, NULL);
    gst_caps_unref (caps);
    g_object_get (enc, "codec", &codec, NULL);
    fail_unless_equals_string (codec, want);
    g_free (codec);
    harness_wait_codec (h, codec_caps_name (want));
    check_sticky (enc, want);
  }

  /* Every step changes the codec. */
  g_object_get (enc, "switches", &switches, NULL);
  fail_unless_equals_int (switches, 20);
  list = pop_switch_messages (bus, enc);
  fail_unless_equals_int (strlen (list) ? g_strv_length (msgs =
          g_strsplit (list, " ", -1)) : 0, 20);
  fail_unless (g_str_has_prefix (list, "h264>vp8 vp8>mjpeg mjpeg>h264 "),
      "%s", list);
  g_strfreev (msgs);
  g_free (list);
  /* Each switch asked the source for its picture again and to
   * renegotiate. */
  while ((event = gst_harness_try_pull_upstream_event (h))) {
    if (gst_event_has_name (event, "osvdi/refresh"))
      refreshes++;
    if (GST_EVENT_TYPE (event) == GST_EVENT_RECONFIGURE)
      reconfigures++;
    gst_event_unref (event);
  }
  fail_unless (refreshes >= switches, "%u refreshes", refreshes);
  fail_unless (reconfigures >= switches, "%u reconfigures", reconfigures);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_object_unref (cf);
  gst_object_unref (enc);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* The same with a streaming thread pushing all the time: the swap happens
 * in the IDLE probe on that thread, between two buffers. */
typedef struct
{
  GMutex lock;
  GCond cond;
  gchar *caps_name;             /* of the last CAPS event at the sink */
  guint buffers;                /* since it */
} Watch;

static GstPadProbeReturn
watch_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Watch *w = data;

  g_mutex_lock (&w->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    w->buffers++;
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_CAPS) {
    GstCaps *caps;

    gst_event_parse_caps (GST_PAD_PROBE_INFO_EVENT (info), &caps);
    g_free (w->caps_name);
    w->caps_name = g_strdup (gst_structure_get_name (gst_caps_get_structure
            (caps, 0)));
    w->buffers = 0;
  }
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_streaming_switches)
{
  GstElement *p = gst_parse_launch ("videotestsrc pattern=ball ! "
      "video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! "
      "spiceencbin name=enc ! capsfilter name=cf ! fakesink name=sink "
      "sync=false", NULL);
  GstElement *cf = gst_bin_get_by_name (GST_BIN (p), "cf");
  GstElement *enc = gst_bin_get_by_name (GST_BIN (p), "enc");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  Watch w = { 0, };
  guint i, switches;
  gchar *list;

  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, watch_probe, &w, NULL);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);

  for (i = 0; i < 21; i++) {
    /* No caps first: the first choice, H.264. */
    const gchar *want = i ? cycle[(i - 1) % G_N_ELEMENTS (cycle)].codec :
        "h264";
    const gchar *name = codec_caps_name (want);
    gint64 end = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;
    GstCaps *caps;

    if (i > 0) {
      caps = gst_caps_from_string (cycle[(i - 1) % G_N_ELEMENTS (cycle)].caps);
      g_object_set (cf, "caps", caps, NULL);
      gst_caps_unref (caps);
    }
    g_mutex_lock (&w.lock);
    while (!(g_strcmp0 (w.caps_name, name) == 0 && w.buffers >= 3)
        && g_cond_wait_until (&w.cond, &w.lock, end));
    fail_unless (g_strcmp0 (w.caps_name, name) == 0 && w.buffers >= 3,
        "step %u: %u buffers of %s, not %s", i, w.buffers, w.caps_name, name);
    g_mutex_unlock (&w.lock);
  }
  g_object_get (enc, "switches", &switches, NULL);
  fail_unless_equals_int (switches, 20);
  list = pop_switch_messages (GST_ELEMENT_BUS (p), enc);
  fail_unless (g_str_has_prefix (list, "h264>vp8 vp8>mjpeg mjpeg>h264 "),
      "%s", list);
  g_free (list);

  fail_unless (gst_element_set_state (p, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (enc);
  gst_object_unref (cf);
  gst_object_unref (p);
  g_free (w.caps_name);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
}

GST_END_TEST;

static Suite *
spiceencbin_suite (void)
{
  Suite *s = suite_create ("spiceencbin");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_bad_settings);
  tcase_add_test (tc, test_no_codec_downstream);
  tcase_add_test (tc, test_harness_switches);
  tcase_add_test (tc, test_streaming_switches);
  tcase_add_test (tc, test_h264_client);
  tcase_add_test (tc, test_vp8_client_switches);
  tcase_add_test (tc, test_vp8_client_before_start);
  tcase_add_test (tc, test_still_source_switch);
  tcase_add_test (tc, test_no_codec_for_client);
  return s;
}

GST_CHECK_MAIN (spiceencbin);
