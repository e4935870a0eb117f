/* OSVDI - spicesink against a real SPICE client (spice-client-glib)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Each test runs a real pipeline (videotestsrc, a real encoder, spicesink
 * with its embedded spice-server) and a real spice-client-glib session in
 * the same process, on loopback, and checks what the client decodes and what
 * its input turns into upstream.
 */
#include <gst/check/gstcheck.h>
#include "osvdi-check-util.h"
#include "osvdi-check-client.h"
#include <gst/video/navigation.h>
#include <spice/enums.h>
#include <spice-client.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osvdi-test-client.h"
#include "osvdicursor.h"

#define PASSWORD "s3cret-ticket"
#define WIDTH 320
#define HEIGHT 240

typedef struct
{
  GstElement *pipeline;
  GstElement *sink;
  GstElement *src;
  gint port;
  GMutex lock;
  GList *nav;                   /* GstStructure*, newest first */
} Session;

static GstPadProbeReturn count_buffers_probe (GstPad * pad,
    GstPadProbeInfo * info, gpointer counter);

static GstPadProbeReturn
nav_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Session *s = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION) {
    g_mutex_lock (&s->lock);
    s->nav = g_list_prepend (s->nav,
        gst_structure_copy (gst_event_get_structure (event)));
    g_mutex_unlock (&s->lock);
  }
  return GST_PAD_PROBE_OK;
}

/* @encoder: the part between the raw source and spicesink; @sink_props: extra
 * spicesink properties. */
static Session *
session_start_full (const gchar * encoder, const gchar * sink_props,
    gint port)
{
  Session *s = g_new0 (Session, 1);
  GError *error = NULL;
  gchar *desc;
  GstPad *pad;

  s->port = port ? port : osvdi_test_free_port (NULL);
  desc = g_strdup_printf ("videotestsrc name=src is-live=true pattern=smpte "
      "! video/x-raw,width=%d,height=%d,framerate=30/1 ! %s "
      "! spicesink name=sink port=%d %s", WIDTH, HEIGHT, encoder, s->port,
      sink_props);
  s->pipeline = gst_parse_launch (desc, &error);
  fail_unless (s->pipeline, "%s: %s", desc, error ? error->message : "");
  g_free (desc);
  s->sink = gst_bin_get_by_name (GST_BIN (s->pipeline), "sink");
  s->src = gst_bin_get_by_name (GST_BIN (s->pipeline), "src");
  g_mutex_init (&s->lock);
  pad = gst_element_get_static_pad (s->src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, nav_probe, s,
      NULL);
  gst_object_unref (pad);

  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (s->pipeline, NULL, NULL,
          10 * GST_SECOND) == GST_STATE_CHANGE_SUCCESS
      || gst_element_get_state (s->pipeline, NULL, NULL, 0)
      == GST_STATE_CHANGE_NO_PREROLL);
  osvdi_test_check_bus (s->pipeline);
  return s;
}

#define H264 "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 " \
  "! h264parse"
#define VP8 "vp8enc deadline=1 keyframe-max-dist=30"

static Session *
session_start (const gchar * encoder)
{
  return session_start_full (encoder, "password=" PASSWORD, 0);
}

static void
session_stop (Session * s)
{
  osvdi_test_check_bus (s->pipeline);
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (s->sink);
  gst_object_unref (s->src);
  gst_object_unref (s->pipeline);
  g_list_free_full (s->nav, (GDestroyNotify) gst_structure_free);
  g_mutex_clear (&s->lock);
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

/* A string field of the sink's stats; valid while the sink lives. */
static const gchar *
stat_str (Session * s, const gchar * field)
{
  GstStructure *st;
  const gchar *v;

  g_object_get (s->sink, "stats", &st, NULL);
  v = g_intern_string (gst_structure_get_string (st, field));
  gst_structure_free (st);
  return v;
}

static OsvdiTestClient *
client_new (Session * s, const gchar * password)
{
  OsvdiTestClientConfig cfg = {.port = s->port,.password = password };
  OsvdiTestClient *client = osvdi_test_client_new (&cfg);

  fail_unless (osvdi_test_client_connect (client));
  return client;
}

static OsvdiTestClient *
client_open (Session * s)
{
  OsvdiTestClient *client = client_new (s, PASSWORD);
  gint event;

  fail_unless (osvdi_test_client_wait_open (client, 10000, &event),
      "client did not connect (channel event %d)", event);
  return client;
}

static void
check_stream (const gchar * encoder, const gchar * codec)
{
  Session *s = session_start (encoder);
  OsvdiTestClient *client = client_open (s);
  gint w = 0, h = 0;
  GstStructure *st;
  const gchar *c;

  fail_unless (osvdi_test_client_wait_frames (client, 5, 10000),
      "no frames drawn");
  fail_unless (osvdi_test_client_size (client, &w, &h));
  fail_unless_equals_int (w, WIDTH);
  fail_unless_equals_int (h, HEIGHT);
  osvdi_test_check_smpte (client, w, h, 5000);

  g_object_get (s->sink, "stats", &st, NULL);
  c = gst_structure_get_string (st, "codec");
  fail_unless_equals_string (c, codec);
  gst_structure_free (st);
  fail_unless (stat_u64 (s, "frames-sent") >= 5);
  fail_unless (stat_u64 (s, "bytes-sent") > 0);
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);

  /* A colour change upstream shows up at the client: the frames are live. */
  g_object_set (s->src, "pattern", 4 /* red */ , NULL);
  fail_unless (osvdi_test_client_wait_pixel (client, w / 2, h / 2, 0xff0000,
          LOSSY_TOLERANCE, 5000), "red frame never arrived");
  g_object_set (s->src, "pattern", 6 /* blue */ , NULL);
  fail_unless (osvdi_test_client_wait_pixel (client, w / 2, h / 2, 0x0000ff,
          LOSSY_TOLERANCE, 5000), "blue frame never arrived");

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_START_TEST (test_h264_pixels)
{
  check_stream (H264, "h264");
}

GST_END_TEST;

GST_START_TEST (test_vp8_pixels)
{
  check_stream (VP8, "vp8");
}

GST_END_TEST;

GST_START_TEST (test_codec_not_accepted_warns)
{
  const gchar *decoders[] = { "vp8dec", "avdec_vp8" };
  GstPluginFeature *hidden[G_N_ELEMENTS (decoders)];
  Session *s;
  OsvdiTestClient *client;
  GstMessage *msg;
  GError *err = NULL;
  guint i;

  /* Loading the encoder's plugin registers its decoder too: start first. */
  s = session_start (VP8);
  /* spice-gtk offers only the codecs it finds decoders for: hide VP8's. */
  for (i = 0; i < G_N_ELEMENTS (decoders); i++) {
    GstPluginFeature *f = gst_registry_lookup_feature (gst_registry_get (),
        decoders[i]);

    /* Our reference keeps the factory alive for the running encoder's
     * plugin; the registry forgets it. */
    if (f)
      gst_registry_remove_feature (gst_registry_get (), f);
    hidden[i] = f;
  }
  client = client_open (s);
  /* Poll: the client needs its main context iterated to get that far. */
  for (i = 0; i < 1000; i++) {
    msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (s->pipeline),
        GST_MESSAGE_WARNING);
    if (msg)
      break;
    osvdi_test_client_iterate (10);
  }
  fail_unless (msg != NULL, "no warning about the codec");
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_CODEC_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, "cannot decode vp8")
      && strstr (err->message, "h264"), "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  /* Frames the client cannot decode are not sent at all. */
  osvdi_test_client_iterate (1000);
  fail_unless_equals_int (stat_u64 (s, "frames-sent"), 0);
  fail_unless_equals_int (osvdi_test_client_frames (client), 0);
  osvdi_test_client_free (client);
  session_stop (s);
  for (i = 0; i < G_N_ELEMENTS (hidden); i++)
    if (hidden[i])
      gst_object_unref (hidden[i]);
}

GST_END_TEST;

GST_START_TEST (test_codec_not_accepted_renegotiates)
{
  /* A plain H.264 encoder and a client without H.264 (spice-gtk 0.42
   * offers a codec when any decoder factory takes its caps: hide them
   * all). The sink warns; upstream then renegotiates (here a format change
   * at the source, as a guest's mode change would) through x264enc, which
   * proxies the sink's caps to its source: the sink must still offer H.264
   * after the client's codecs, or the pipeline fails not-negotiated. */
  Session *s = session_start ("capsfilter name=fmt ! " H264);
  GstElementFactoryListType type = GST_ELEMENT_FACTORY_TYPE_DECODER |
      GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO | GST_ELEMENT_FACTORY_TYPE_MEDIA_IMAGE;
  GstCaps *h264 = gst_caps_from_string ("video/x-h264"), *nv12;
  GstPlugin *libav = gst_plugin_load_by_name ("libav");
  GList *all, *hidden, *l;
  GstElement *fmt = gst_bin_get_by_name (GST_BIN (s->pipeline), "fmt");
  OsvdiTestClient *client;
  GstMessage *msg;
  GError *err = NULL;
  GstPad *sinkpad;
  gulong probe;
  gint frames = 0;
  gint64 end;
  guint i;

  all = gst_element_factory_list_get_elements (type, GST_RANK_NONE);
  hidden = gst_element_factory_list_filter (all, h264, GST_PAD_SINK, FALSE);
  fail_unless (hidden != NULL);
  for (l = hidden; l; l = l->next)
    gst_registry_remove_feature (gst_registry_get (), l->data);
  gst_plugin_feature_list_free (all);
  gst_caps_unref (h264);
  client = client_open (s);
  for (i = 0, msg = NULL; i < 1000 && !msg; i++) {
    msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (s->pipeline),
        GST_MESSAGE_WARNING);
    if (!msg)
      osvdi_test_client_iterate (10);
  }
  fail_unless (msg != NULL, "no warning about the codec");
  gst_message_parse_warning (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_CODEC_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, "cannot decode h264"), "%s",
      err->message);
  g_error_free (err);
  gst_message_unref (msg);

  nv12 = gst_caps_from_string ("video/x-raw,format=NV12");
  g_object_set (fmt, "caps", nv12, NULL);
  gst_caps_unref (nv12);
  /* The client's main context keeps running meanwhile (a client left
   * without it for a second trips over its own teardown). */
  sinkpad = gst_element_get_static_pad (s->sink, "sink");
  probe = gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER,
      count_buffers_probe, &frames, NULL);
  end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (g_atomic_int_get (&frames) < 30 && g_get_monotonic_time () < end)
    osvdi_test_client_iterate (10);
  gst_pad_remove_probe (sinkpad, probe);
  gst_object_unref (sinkpad);
  fail_unless (g_atomic_int_get (&frames) >= 30,
      "no frames after the renegotiation");
  osvdi_test_check_bus (s->pipeline);
  fail_unless_equals_int (stat_u64 (s, "frames-sent"), 0);
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);

  osvdi_test_client_free (client);
  session_stop (s);
  gst_object_unref (fmt);
  gst_plugin_feature_list_free (hidden);
  if (libav)
    gst_object_unref (libav);
}

GST_END_TEST;

static void
check_refused (const gchar * password)
{
  Session *s = session_start (H264);
  OsvdiTestClient *client = client_new (s, password);
  gint event = 0;

  fail_if (osvdi_test_client_wait_open (client, 10000, &event));
  fail_unless_equals_int (event, SPICE_CHANNEL_ERROR_AUTH);
  fail_unless_equals_int (stat_u64 (s, "clients"), 0);
  fail_unless_equals_int (stat_u64 (s, "frames-sent"), 0);
  osvdi_test_client_free (client);
  session_stop (s);
}

GST_START_TEST (test_wrong_ticket_refused)
{
  check_refused ("not-the-ticket");
}

GST_END_TEST;

GST_START_TEST (test_missing_ticket_refused)
{
  check_refused (NULL);
}

GST_END_TEST;

static void
run_or_fail (const gchar * cmd)
{
  gchar *out = NULL, *err = NULL;
  gint status = -1;
  GError *error = NULL;

  fail_unless (g_spawn_command_line_sync (cmd, &out, &err, &status, &error),
      "%s: %s", cmd, error ? error->message : "");
  fail_unless (g_spawn_check_wait_status (status, NULL), "%s failed: %s", cmd,
      err);
  g_free (out);
  g_free (err);
}

/* A throw-away CA and a server certificate for 127.0.0.1, made per test. */
static gchar *
make_x509_dir (void)
{
  gchar *dir = g_dir_make_tmp ("osvdi-x509-XXXXXX", NULL);
  gchar *cmd;

  fail_unless (dir != NULL);
  cmd = g_strdup_printf ("sh -c 'cd %s && "
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=osvdi-test-ca "
      "-keyout ca-key.pem -out ca-cert.pem && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
      "-keyout server-key.pem -out server.csr && "
      "printf \"subjectAltName=IP:127.0.0.1\" > ext.cnf && "
      "openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem "
      "-CAcreateserial -days 1 -extfile ext.cnf -out server-cert.pem' ", dir);
  run_or_fail (cmd);
  g_free (cmd);
  return dir;
}

static void
remove_dir (const gchar * dir)
{
  gchar *cmd = g_strdup_printf ("rm -rf %s", dir);

  run_or_fail (cmd);
  g_free (cmd);
}

GST_START_TEST (test_tls)
{
  gchar *dir = make_x509_dir ();
  gint tls_port = osvdi_test_free_port (NULL);
  gchar *props = g_strdup_printf ("password=" PASSWORD " tls-port=%d "
      "x509-dir=%s", tls_port, dir);
  /* TLS only: no plain-text port at all. */
  Session *s = session_start_full (H264, props, 0);
  gchar *ca = g_build_filename (dir, "ca-cert.pem", NULL);
  OsvdiTestClientConfig cfg = {.tls_port = tls_port,.password = PASSWORD,
    .ca_file = ca
  };
  OsvdiTestClient *client = osvdi_test_client_new (&cfg);
  gint event;

  fail_unless (osvdi_test_client_connect (client));
  fail_unless (osvdi_test_client_wait_open (client, 10000, &event),
      "TLS client did not connect (event %d)", event);
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  osvdi_test_client_free (client);
  session_stop (s);

  /* A client that does not trust the CA is refused. */
  s = session_start_full (H264, props, 0);
  cfg.ca_file = NULL;
  client = osvdi_test_client_new (&cfg);
  fail_unless (osvdi_test_client_connect (client));
  fail_if (osvdi_test_client_wait_open (client, 10000, &event));
  fail_unless (event == SPICE_CHANNEL_ERROR_TLS
      || event == SPICE_CHANNEL_ERROR_CONNECT
      || event == SPICE_CHANNEL_ERROR_LINK, "event %d", event);
  osvdi_test_client_free (client);
  session_stop (s);

  remove_dir (dir);
  g_free (ca);
  g_free (props);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_password_file)
{
  gchar *dir = g_dir_make_tmp ("osvdi-ticket-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "ticket", NULL);
  gchar *props = g_strdup_printf ("password-file=%s", path);
  Session *s;
  OsvdiTestClient *client;

  fail_unless (g_file_set_contents (path, "from-a-file\nignored", -1, NULL));
  s = session_start_full (H264, props, 0);
  client = client_new (s, "from-a-file");
  fail_unless (osvdi_test_client_wait_open (client, 10000, NULL));
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  osvdi_test_client_free (client);
  session_stop (s);
  g_unlink (path);
  g_rmdir (dir);
  g_free (props);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

static GstPadProbeReturn
count_buffers_probe (GstPad * pad, GstPadProbeInfo * info, gpointer counter)
{
  g_atomic_int_inc ((gint *) counter);
  return GST_PAD_PROBE_OK;
}

/* Waits until @n frames reached the sink (up to @ms). */
static gboolean
wait_frames_rendered (Session * s, gint n, guint ms)
{
  GstPad *pad = gst_element_get_static_pad (s->sink, "sink");
  gint count = 0;
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  gulong id = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER,
      count_buffers_probe, &count, NULL);

  while (g_atomic_int_get (&count) < n && g_get_monotonic_time () < end)
    g_usleep (10 * 1000);
  gst_pad_remove_probe (pad, id);
  gst_object_unref (pad);
  return count >= n;
}

GST_START_TEST (test_mid_stream_keyframe)
{
  /* Keyframes upstream only every 1800 frames (60 s): a picture well before
   * that needs the keyframe the sink requests when the client starts. The
   * bound is generous (10 s, for loaded machines); the time it took is
   * logged, and measured by the benchmarks, not asserted. */
  Session *s = session_start ("x264enc tune=zerolatency "
      "speed-preset=ultrafast key-int-max=1800 ! h264parse");
  guint i;

  /* The encoder's first keyframe is gone by the time the clients come. */
  fail_unless (wait_frames_rendered (s, 30, 10000), "no frames upstream");
  /* The second client on the same sink needs its own keyframe too. */
  for (i = 0; i < 2; i++) {
    gint64 start = g_get_monotonic_time ();
    OsvdiTestClient *client = client_new (s, PASSWORD);

    fail_unless (osvdi_test_client_wait_pixel (client, WIDTH / 14,
            HEIGHT / 3, smpte_bars[0], LOSSY_TOLERANCE, 10000),
        "client %u: no correct picture within 10 s of connecting", i);
    GST_INFO ("client %u: picture after %" G_GINT64_FORMAT " ms", i,
        (g_get_monotonic_time () - start) / 1000);
    osvdi_test_check_smpte (client, WIDTH, HEIGHT, 100);
    osvdi_test_client_free (client);
  }
  session_stop (s);
}

GST_END_TEST;

static GstStructure *
find_nav (Session * s, const gchar * type, const gchar * field, gint value)
{
  GstStructure *found = NULL;
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = g_list_last (s->nav); l && !found; l = l->prev) {
    GstStructure *st = l->data;
    gint v;
    guint u;

    if (g_strcmp0 (gst_structure_get_string (st, "event"), type) != 0)
      continue;
    if (!field)
      found = st;
    else if (gst_structure_get_int (st, field, &v) && v == value)
      found = st;
    else if (gst_structure_get_uint (st, field, &u) && (gint) u == value)
      found = st;
  }
  g_mutex_unlock (&s->lock);
  return found;
}

static GstStructure *
wait_nav (Session * s, const gchar * type, const gchar * field, gint value)
{
  gint64 end = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  GstStructure *st;

  while (!(st = find_nav (s, type, field, value))
      && g_get_monotonic_time () < end)
    osvdi_test_client_iterate (10);
  fail_unless (st, "no %s event with %s=%d upstream", type, field, value);
  return st;
}

static void
click (OsvdiTestClient * client, gint button)
{
  osvdi_test_client_button (client, button, TRUE);
  osvdi_test_client_button (client, button, FALSE);
}

/* A press and a release of @button (X numbering) arrive upstream. */
static void
wait_click (Session * s, gint button)
{
  wait_nav (s, "mouse-button-press", "button", button);
  wait_nav (s, "mouse-button-release", "button", button);
}

GST_START_TEST (test_input_relative)
{
  /* Server mouse mode, the fallback: relative motion. (And H.264 without
   * the frame-end tail, which must decode as well.) */
  Session *s = session_start_full (H264, "password=" PASSWORD
      " absolute-pointer=false h264-frame-end=false", 0);
  OsvdiTestClient *client = client_open (s);
  GstStructure *st;
  gdouble x, y, dy;

  fail_unless (osvdi_test_client_wait_inputs (client, 10000));
  fail_unless (osvdi_test_client_wait_frames (client, 1, 10000));
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);
  fail_unless (osvdi_test_client_wait_mouse_mode (client,
          SPICE_MOUSE_MODE_SERVER, 5000));
  fail_unless_equals_string (stat_str (s, "mouse-mode"), "server");

  /* 'a', then Up (an extended key: 0xE0 0x48). */
  osvdi_test_client_key (client, 0x1e, TRUE);
  osvdi_test_client_key (client, 0x1e, FALSE);
  osvdi_test_client_key (client, 0x148, TRUE);
  osvdi_test_client_key (client, 0x148, FALSE);
  st = wait_nav (s, "key-press", "scancode", 0x1e);
  fail_unless_equals_string (gst_structure_get_string (st, "key"), "a");
  st = wait_nav (s, "key-release", "scancode", 0x1e);
  fail_unless_equals_string (gst_structure_get_string (st, "key"), "a");
  st = wait_nav (s, "key-press", "scancode", 0x148);
  fail_unless_equals_string (gst_structure_get_string (st, "key"), "Up");
  wait_nav (s, "key-release", "scancode", 0x148);

  /* Server mouse mode: relative motion from a virtual pointer at (0,0). */
  osvdi_test_client_motion (client, 40, 30);
  st = wait_nav (s, "mouse-move", "dx", 40);
  fail_unless (gst_structure_get_double (st, "pointer_x", &x));
  fail_unless (gst_structure_get_double (st, "pointer_y", &y));
  fail_unless_equals_float (x, 40);
  fail_unless_equals_float (y, 30);

  click (client, SPICE_MOUSE_BUTTON_LEFT);
  click (client, SPICE_MOUSE_BUTTON_RIGHT);
  st = wait_nav (s, "mouse-button-press", "button", 1);
  fail_unless (gst_structure_get_double (st, "pointer_x", &x));
  fail_unless_equals_float (x, 40);
  wait_nav (s, "mouse-button-release", "button", 1);
  wait_click (s, 3);

  /* The wheel: a SPICE "up" button click scrolls up. */
  click (client, SPICE_MOUSE_BUTTON_UP);
  st = wait_nav (s, "mouse-scroll", NULL, 0);
  fail_unless (gst_structure_get_double (st, "delta_pointer_y", &dy));
  fail_unless (dy > 0, "scroll up gave delta %f", dy);

  /* The motion is clamped to the stream. */
  osvdi_test_client_motion (client, 10000, 10000);
  st = wait_nav (s, "mouse-move", "dx", 10000);
  fail_unless (gst_structure_get_double (st, "pointer_x", &x));
  fail_unless_equals_float (x, WIDTH - 1);

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

GST_START_TEST (test_absolute_pointer)
{
  Session *s = session_start (H264);
  OsvdiTestClient *client = client_open (s);
  static const gint points[][2] = {
    {0, 0}, {WIDTH - 1, 0}, {0, HEIGHT - 1}, {WIDTH - 1, HEIGHT - 1},
    {123, 45}, {WIDTH / 2, HEIGHT / 2},
  };
  GstStructure *st;
  gdouble x, y, dy;
  guint i;

  fail_unless (osvdi_test_client_wait_inputs (client, 10000));
  fail_unless (osvdi_test_client_wait_frames (client, 1, 10000));
  fail_unless (osvdi_test_client_wait_mouse_mode (client,
          SPICE_MOUSE_MODE_CLIENT, 5000), "mouse mode %d, not client",
      osvdi_test_client_mouse_mode (client));
  fail_unless_equals_string (stat_str (s, "mouse-mode"), "client");
  /* The transient QXL surface is gone: the stream is the only display. */
  fail_unless_equals_int (osvdi_test_client_displays (client), 1);

  for (i = 0; i < G_N_ELEMENTS (points); i++) {
    gint64 end = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
    gboolean seen = FALSE;

    osvdi_test_client_position (client, points[i][0], points[i][1]);
    while (!seen && g_get_monotonic_time () < end) {
      GList *l;

      osvdi_test_client_iterate (10);
      g_mutex_lock (&s->lock);
      for (l = s->nav; l && !seen; l = l->next) {
        st = l->data;
        seen = g_strcmp0 (gst_structure_get_string (st, "event"),
            "mouse-move") == 0
            && gst_structure_get_double (st, "pointer_x", &x)
            && gst_structure_get_double (st, "pointer_y", &y)
            && x == points[i][0] && y == points[i][1]
            && !gst_structure_has_field (st, "relative");
      }
      g_mutex_unlock (&s->lock);
    }
    fail_unless (seen, "no absolute move to (%d,%d)", points[i][0],
        points[i][1]);
  }

  /* A click at the last position, then the wheel. */
  click (client, SPICE_MOUSE_BUTTON_LEFT);
  st = wait_nav (s, "mouse-button-press", "button", 1);
  fail_unless (gst_structure_get_double (st, "pointer_x", &x));
  fail_unless (gst_structure_get_double (st, "pointer_y", &y));
  fail_unless_equals_float (x, WIDTH / 2);
  fail_unless_equals_float (y, HEIGHT / 2);
  wait_nav (s, "mouse-button-release", "button", 1);
  click (client, SPICE_MOUSE_BUTTON_RIGHT);
  wait_click (s, 3);
  click (client, SPICE_MOUSE_BUTTON_DOWN);
  st = wait_nav (s, "mouse-scroll", NULL, 0);
  fail_unless (gst_structure_get_double (st, "delta_pointer_y", &dy));
  fail_unless (dy < 0, "scroll down gave delta %f", dy);

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

static void
send_cursor_event (Session * s, GstEvent * event)
{
  GstPad *pad = gst_element_get_static_pad (s->sink, "sink");

  fail_unless (gst_pad_send_event (pad, event));
  gst_object_unref (pad);
}

/* The silent playback channel (audio-clock): a client with audio gets
 * decoded silence; without the property, no playback channel at all. */
static void
audio_clock_run (const gchar * props, guint64 * bytes, guint64 * nonzero)
{
  Session *s = session_start_full (H264, props, 0);
  OsvdiTestClientConfig cfg = {.port = s->port,.password = PASSWORD,
    .audio = TRUE
  };
  OsvdiTestClient *client = osvdi_test_client_new (&cfg);
  gint event;

  fail_unless (osvdi_test_client_connect (client));
  fail_unless (osvdi_test_client_wait_open (client, 10000, &event),
      "client did not connect (channel event %d)", event);
  fail_unless (osvdi_test_client_wait_frames (client, 3, 10000),
      "no frames drawn");
  osvdi_test_client_iterate (1500);
  osvdi_test_client_audio (client, bytes, nonzero);
  osvdi_test_client_free (client);
  session_stop (s);
}

GST_START_TEST (test_audio_clock)
{
  guint64 bytes, nonzero;

  /* The client's audio backend without an audio device. */
  g_setenv ("SPICE_GST_AUDIOSINK", "appsrc name=appsrc is-live=1 "
      "format=time ! fakesink name=audiosink sync=false", TRUE);

  audio_clock_run ("password=" PASSWORD, &bytes, &nonzero);
  /* 48 kHz stereo S16 is 192 kB/s: more than 1.5 s of it, all zeros. */
  fail_unless (bytes > 200000, "only %" G_GUINT64_FORMAT " bytes of audio",
      bytes);
  fail_unless (nonzero == 0, "%" G_GUINT64_FORMAT " non-zero bytes of "
      "silence", nonzero);

  audio_clock_run ("password=" PASSWORD " audio-clock=false", &bytes,
      &nonzero);
  fail_unless (bytes == 0, "%" G_GUINT64_FORMAT " bytes of audio without "
      "audio-clock", bytes);
}

GST_END_TEST;

GST_START_TEST (test_cursor)
{
  Session *s = session_start_full (H264, "password=" PASSWORD
      " absolute-pointer=false", 0);
  OsvdiTestClient *client;
  GstBuffer *pixels = gst_buffer_new_allocate (NULL, 16 * 8 * 4, NULL);
  gint w, h, hx, hy;
  guint32 pixel0;

  /* Set before any client: new clients get the shape when they start. */
  gst_buffer_memset (pixels, 0, 0x80, 16 * 8 * 4);
  gst_buffer_fill (pixels, 0, "\x11\x22\x33\xff", 4);
  send_cursor_event (s, osvdi_cursor_event_new_set (16, 8, 3, 5, pixels));
  gst_buffer_unref (pixels);
  /* Malformed shapes after it are ignored: they neither replace the shape
   * new clients get nor stop the sink. */
  send_cursor_event (s, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new ("osvdi/cursor-set", "width", G_TYPE_UINT, 8,
              NULL)));
  pixels = gst_buffer_new_allocate (NULL, 4, NULL);
  send_cursor_event (s, osvdi_cursor_event_new_set (8, 8, 0, 0, pixels));
  gst_buffer_unref (pixels);
  send_cursor_event (s, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
          gst_structure_new ("osvdi/cursor-move", "x", G_TYPE_STRING, "3",
              NULL)));

  client = client_open (s);
  fail_unless (osvdi_test_client_wait_cursor (client, 10000),
      "no cursor shape at the client");
  osvdi_test_client_cursor (client, &w, &h, &hx, &hy, &pixel0);
  fail_unless_equals_int (w, 16);
  fail_unless_equals_int (h, 8);
  fail_unless_equals_int (hx, 3);
  fail_unless_equals_int (hy, 5);
  fail_unless_equals_int_hex (pixel0, 0xff332211);

  send_cursor_event (s, osvdi_cursor_event_new_move (77, 33));
  fail_unless (osvdi_test_client_wait_cursor_pos (client, 77, 33, 10000),
      "cursor move did not arrive");

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

/* Frames the sink released, each release checked to run outside the sink's
 * lock: taking that lock (reading stats) from the release would deadlock,
 * and the test's timeout would report it. Releasing a buffer runs upstream
 * pool code, which must never run under the sink's lock. */
static gint frames_released;

static void
frame_released (gpointer data, GstMiniObject * buffer)
{
  GstElement *sink = data;
  GstStructure *stats;

  g_object_get (sink, "stats", &stats, NULL);
  gst_structure_free (stats);
  g_atomic_int_inc (&frames_released);
  gst_object_unref (sink);
}

static GstPadProbeReturn
watch_release_probe (GstPad * pad, GstPadProbeInfo * info, gpointer sink)
{
  gst_mini_object_weak_ref (GST_MINI_OBJECT (GST_PAD_PROBE_INFO_BUFFER (info)),
      frame_released, gst_object_ref (sink));
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_stalled_client)
{
  /* Big noisy frames so that the socket buffers fill quickly. */
  Session *s = session_start ("x264enc tune=zerolatency speed-preset=ultrafast "
      "bitrate=60000 key-int-max=30 ! h264parse");
  OsvdiTestClient *client = client_open (s);
  guint64 sent, dropped, sent_stalled;
  gint64 end;
  guint frames;
  GstPad *pad = gst_element_get_static_pad (s->sink, "sink");

  g_atomic_int_set (&frames_released, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, watch_release_probe,
      s->sink, NULL);
  gst_object_unref (pad);
  g_object_set (s->src, "pattern", 1 /* snow */ , NULL);
  fail_unless (osvdi_test_client_wait_frames (client, 10, 10000));

  /* The client stops reading: nothing iterates its main context, until
   * the sink has dropped 100 frames (at 30 fps, about 4 s of stall). */
  sent = stat_u64 (s, "frames-sent");
  dropped = stat_u64 (s, "frames-dropped");
  end = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  while (stat_u64 (s, "frames-dropped") - dropped <= 100
      && g_get_monotonic_time () < end)
    g_usleep (20 * 1000);
  sent_stalled = stat_u64 (s, "frames-sent") - sent;
  osvdi_test_check_bus (s->pipeline);

  GST_INFO ("during the stall: %" G_GUINT64_FORMAT " sent, %" G_GUINT64_FORMAT
      " dropped", sent_stalled, stat_u64 (s, "frames-dropped") - dropped);
  fail_unless (stat_u64 (s, "frames-dropped") - dropped > 100,
      "frames were not dropped while the client stalled (60 s)");
  fail_unless (g_atomic_int_get (&frames_released) > 100,
      "only %d frames released", g_atomic_int_get (&frames_released));
  fail_unless (stat_u64 (s, "max-waiting-frames") <= 2);
  fail_unless (stat_u64 (s, "waiting-frames") <= 2);

  /* The client reads again and sees live pictures. */
  frames = osvdi_test_client_frames (client);
  g_object_set (s->src, "pattern", 5 /* green */ , NULL);
  fail_unless (osvdi_test_client_wait_pixel (client, WIDTH / 2, HEIGHT / 2,
          0x00ff00, LOSSY_TOLERANCE, 10000), "no recovery after the stall");
  fail_unless (osvdi_test_client_frames (client) > frames);
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

GST_START_TEST (test_reconnect_cycles)
{
  Session *s = session_start (H264);
  OsvdiTestClient *client;
  guint i;

  for (i = 0; i < 50; i++) {
    client = client_open (s);
    /* Every other cycle waits for frames, so that some disconnects land in
     * the middle of a frame transfer. */
    if (i % 2 == 0)
      fail_unless (osvdi_test_client_wait_frames (client, 1, 10000),
          "cycle %u: no frame", i);
    osvdi_test_client_free (client);
  }
  osvdi_test_client_iterate (500);
  fail_unless_equals_int (stat_u64 (s, "clients"), 0);

  /* Still serving after all that. */
  client = client_open (s);
  osvdi_test_check_smpte (client, WIDTH, HEIGHT, 10000);

  /* PLAYING -> READY -> PLAYING restarts the encoder; the server and the
   * connected client live on and see the new frames. */
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  g_object_set (s->src, "pattern", 4 /* red */ , NULL);
  fail_unless (gst_element_set_state (s->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  fail_unless (osvdi_test_client_wait_pixel (client, WIDTH / 2, HEIGHT / 2,
          0xff0000, LOSSY_TOLERANCE, 10000), "no picture after READY");
  fail_unless_equals_int (stat_u64 (s, "clients"), 1);

  osvdi_test_client_free (client);
  session_stop (s);
}

GST_END_TEST;

static Suite *
spicesink_client_suite (void)
{
  Suite *s = suite_create ("spicesink-client");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 180);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_h264_pixels);
  tcase_add_test (tc, test_vp8_pixels);
  tcase_add_test (tc, test_codec_not_accepted_warns);
  tcase_add_test (tc, test_codec_not_accepted_renegotiates);
  tcase_add_test (tc, test_wrong_ticket_refused);
  tcase_add_test (tc, test_missing_ticket_refused);
  tcase_add_test (tc, test_tls);
  tcase_add_test (tc, test_password_file);
  tcase_add_test (tc, test_mid_stream_keyframe);
  tcase_add_test (tc, test_input_relative);
  tcase_add_test (tc, test_absolute_pointer);
  tcase_add_test (tc, test_cursor);
  tcase_add_test (tc, test_audio_clock);
  tcase_add_test (tc, test_stalled_client);
  tcase_add_test (tc, test_reconnect_cycles);
  return s;
}

GST_CHECK_MAIN (spicesink_client);
