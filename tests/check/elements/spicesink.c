/* OSVDI - spicesink without a client: settings, errors, state changes
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gst/check/gstcheck.h>
#include "osvdi-check-util.h"
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port nobody listens on (bound and released); with @keep, the listening
 * socket is returned in *keep instead of closed. */
/* Puts @sink alone in a pipeline, asks for PAUSED and returns the error it
 * posts (NULL if it started). */
static GError *
start_error (GstElement * sink, gchar ** debug)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstStateChangeReturn ret;
  GstMessage *msg;
  GError *error = NULL;

  /* The caller keeps its own reference: a floating one (fresh from the
   * factory) is sunk first, else the bin would take it and a ref of ours
   * would stay behind at every call after the first (the element leaked
   * from any test that starts it twice; LeakSanitizer says so on Debian
   * 13). */
  if (g_object_is_floating (sink))
    gst_object_ref_sink (sink);
  gst_bin_add (GST_BIN (pipeline), sink);
  ret = gst_element_set_state (pipeline, GST_STATE_PAUSED);
  msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline), GST_MESSAGE_ERROR);
  if (msg) {
    gst_message_parse_error (msg, &error, debug);
    gst_message_unref (msg);
    fail_unless (ret == GST_STATE_CHANGE_FAILURE);
  } else {
    fail_if (ret == GST_STATE_CHANGE_FAILURE);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (pipeline), sink);
  gst_object_unref (pipeline);
  return error;
}

GST_START_TEST (test_defaults)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  GParamSpec *pspec;
  GstStructure *stats;
  gchar *address;
  gint port, tls_port;
  gboolean disabled, sync;
  guint64 sent;

  fail_unless (sink != NULL);
  g_object_get (sink, "address", &address, "port", &port, "tls-port",
      &tls_port, "disable-ticketing", &disabled, "sync", &sync, "stats",
      &stats, NULL);
  fail_unless_equals_string (address, "127.0.0.1");
  fail_unless_equals_int (port, 5900);
  fail_unless_equals_int (tls_port, 0);
  fail_if (disabled);
  fail_if (sync);
  fail_unless (gst_structure_get_uint64 (stats, "frames-sent", &sent));
  fail_unless_equals_int (sent, 0);
  fail_unless_equals_string (gst_structure_get_string (stats, "codec"),
      "none");
  /* The ticket can be set but never read back. */
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (sink),
      "password");
  fail_unless (pspec->flags & G_PARAM_WRITABLE);
  fail_if (pspec->flags & G_PARAM_READABLE);
  g_free (address);
  gst_structure_free (stats);
  gst_object_unref (sink);
}

GST_END_TEST;

GST_START_TEST (test_no_ticket_refuses_to_start)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  GError *error;
  gint port = osvdi_test_free_port (NULL);

  g_object_set (sink, "port", port, NULL);
  error = start_error (sink, NULL);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  fail_unless (strstr (error->message, "password")
      && strstr (error->message, "disable-ticketing"), "%s", error->message);
  fail_if (osvdi_test_port_accepts (port));
  g_error_free (error);

  /* An empty password is no password. */
  g_object_set (sink, "password", "", NULL);
  error = start_error (sink, NULL);
  fail_unless (error != NULL);
  g_error_free (error);

  g_object_set (sink, "password", "x", NULL);
  fail_unless (start_error (sink, NULL) == NULL);
  gst_object_unref (sink);
}

GST_END_TEST;

GST_START_TEST (test_password_file)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  gchar *dir = g_dir_make_tmp ("osvdi-ticket-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "ticket", NULL);
  GError *error;

  g_object_set (sink, "port", osvdi_test_free_port (NULL), "password-file", path, NULL);
  error = start_error (sink, NULL);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_READ));
  fail_unless (strstr (error->message, path), "%s", error->message);
  g_clear_error (&error);

  fail_unless (g_file_set_contents (path, "t1cket\n", -1, NULL));
  fail_unless (start_error (sink, NULL) == NULL);

  /* An empty file is no ticket. */
  fail_unless (g_file_set_contents (path, "\n", -1, NULL));
  error = start_error (sink, NULL);
  fail_unless (error && strstr (error->message, "password"));
  g_clear_error (&error);

  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  gst_object_unref (sink);
}

GST_END_TEST;

GST_START_TEST (test_port_in_use)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  int busy_fd;
  gint port = osvdi_test_free_port (&busy_fd);
  gchar *debug = NULL, *port_str = g_strdup_printf ("%d", port);
  GError *error;

  g_object_set (sink, "port", port, "password", "x", NULL);
  error = start_error (sink, &debug);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_BUSY), "%s", error->message);
  fail_unless (strstr (error->message, port_str), "%s", error->message);
  fail_unless (strstr (error->message, "in use"), "%s", error->message);
  g_error_free (error);
  g_free (debug);

  /* The port is freed: now it starts. */
  close (busy_fd);
  fail_unless (start_error (sink, NULL) == NULL);
  g_free (port_str);
  gst_object_unref (sink);
}

GST_END_TEST;

GST_START_TEST (test_tls_settings)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  gchar *dir = g_dir_make_tmp ("osvdi-x509-XXXXXX", NULL);
  GError *error;

  g_object_set (sink, "port", osvdi_test_free_port (NULL), "tls-port", osvdi_test_free_port (NULL),
      "password", "x", NULL);
  error = start_error (sink, NULL);
  fail_unless (error && strstr (error->message, "x509-dir"));
  g_clear_error (&error);

  /* A directory without the files names the first missing one. */
  g_object_set (sink, "x509-dir", dir, NULL);
  error = start_error (sink, NULL);
  fail_unless (error != NULL);
  fail_unless (g_error_matches (error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND));
  fail_unless (strstr (error->message, "ca-cert.pem"), "%s", error->message);
  g_clear_error (&error);

  /* Nowhere to listen. */
  g_object_set (sink, "port", 0, "tls-port", 0, NULL);
  error = start_error (sink, NULL);
  fail_unless (error && strstr (error->message, "tls-port"));
  g_clear_error (&error);

  g_rmdir (dir);
  g_free (dir);
  gst_object_unref (sink);
}

GST_END_TEST;

/* The harness plays the element at once: settings go in the description. */
static GstHarness *
harness_new (gint port)
{
  gchar *desc = g_strdup_printf ("spicesink async=false disable-ticketing=true "
      "port=%d", port);
  GstHarness *h = gst_harness_new_parse (desc);

  g_free (desc);
  return h;
}

GST_START_TEST (test_state_cycles)
{
  gint port = osvdi_test_free_port (NULL);
  GstHarness *h = harness_new (port);
  guint i;

  /* GstBaseSink starts in NULL->READY and stops in READY->NULL: the server
   * (and its clients) live through READY<->PLAYING. */
  gst_harness_set_src_caps_str (h, "video/x-h264, stream-format="
      "byte-stream, alignment=au, width=64, height=48");
  for (i = 0; i < 20; i++) {
    fail_unless (gst_element_set_state (h->element, GST_STATE_PLAYING)
        != GST_STATE_CHANGE_FAILURE);
    fail_unless (osvdi_test_port_accepts (port), "cycle %u: not listening", i);
    fail_unless_equals_int (gst_harness_push (h,
            gst_buffer_new_allocate (NULL, 100, NULL)), GST_FLOW_OK);
    fail_unless (gst_element_set_state (h->element, GST_STATE_READY)
        == GST_STATE_CHANGE_SUCCESS);
    fail_unless (osvdi_test_port_accepts (port), "cycle %u: not listening in READY", i);
  }

  /* NULL closes the server and its port, PLAYING opens them again. */
  for (i = 0; i < 10; i++) {
    fail_unless (gst_element_set_state (h->element, GST_STATE_NULL)
        == GST_STATE_CHANGE_SUCCESS);
    fail_if (osvdi_test_port_accepts (port), "cycle %u: still listening in NULL", i);
    fail_unless (gst_element_set_state (h->element, GST_STATE_PLAYING)
        != GST_STATE_CHANGE_FAILURE);
    fail_unless (osvdi_test_port_accepts (port), "cycle %u: not listening", i);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_two_sinks_at_once)
{
  GstElement *a = gst_element_factory_make ("spicesink", NULL);
  GstElement *b = gst_element_factory_make ("spicesink", NULL);
  gint pa = osvdi_test_free_port (NULL), pb = osvdi_test_free_port (NULL);

  g_object_set (a, "port", pa, "password", "a", NULL);
  g_object_set (b, "port", pb, "password", "b", NULL);
  fail_unless (gst_element_set_state (a, GST_STATE_PAUSED)
      != GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (b, GST_STATE_PAUSED)
      != GST_STATE_CHANGE_FAILURE);
  fail_unless (osvdi_test_port_accepts (pa));
  fail_unless (osvdi_test_port_accepts (pb));
  gst_element_set_state (a, GST_STATE_NULL);
  fail_if (osvdi_test_port_accepts (pa));
  fail_unless (osvdi_test_port_accepts (pb));
  gst_element_set_state (b, GST_STATE_NULL);
  gst_object_unref (a);
  gst_object_unref (b);
}

GST_END_TEST;

GST_START_TEST (test_caps_without_size)
{
  GstHarness *h = harness_new (osvdi_test_free_port (NULL));
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *error = NULL;

  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "video/x-vp8");
  fail_unless (gst_harness_push (h, gst_buffer_new_allocate (NULL, 10,
              NULL)) == GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  fail_unless (strstr (error->message, "width and height"), "%s",
      error->message);
  g_error_free (error);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Server settings change only in NULL: the server already runs in READY,
 * where a new port would be silently ignored. A change is refused with a
 * warning on the bus, and the running server keeps its port. */
GST_START_TEST (test_server_settings_only_in_null)
{
  gint port = osvdi_test_free_port (NULL), other = osvdi_test_free_port (NULL);
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *error = NULL;
  gint now;

  /* The sink alone posts on its own bus (state changes too). */
  gst_element_set_bus (sink, bus);
  g_object_set (sink, "port", port, "disable-ticketing", TRUE, NULL);
  fail_unless (gst_element_set_state (sink, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  g_object_set (sink, "port", other, NULL);
  g_object_get (sink, "port", &now, NULL);
  fail_unless_equals_int (now, port);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (msg != NULL, "no warning for a port change in READY");
  gst_message_parse_warning (msg, &error, NULL);
  fail_unless (strstr (error->message, "\"port\"") != NULL, "%s",
      error->message);
  g_clear_error (&error);
  gst_message_unref (msg);
  fail_unless (osvdi_test_port_accepts (port));
  fail_if (osvdi_test_port_accepts (other));

  /* In NULL the change is taken, and the next start uses it. */
  fail_unless (gst_element_set_state (sink, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  g_object_set (sink, "port", other, NULL);
  g_object_get (sink, "port", &now, NULL);
  fail_unless_equals_int (now, other);
  fail_unless (gst_element_set_state (sink, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  fail_unless (osvdi_test_port_accepts (other));
  fail_if (osvdi_test_port_accepts (port));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_if (msg != NULL, "a warning for a change in NULL");
  gst_element_set_state (sink, GST_STATE_NULL);
  gst_element_set_bus (sink, NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
}

GST_END_TEST;

/* The codec in the harnessed spicesink's stats, and its keyframe requests. */
static const gchar *
stats_codec (GstHarness * h, guint64 * keyframes_requested)
{
  static gchar codec[32];
  GstElement *sink = gst_harness_find_element (h, "spicesink");
  GstStructure *stats;

  g_object_get (sink, "stats", &stats, NULL);
  gst_object_unref (sink);
  g_strlcpy (codec, gst_structure_get_string (stats, "codec"),
      sizeof (codec));
  if (keyframes_requested)
    fail_unless (gst_structure_get_uint64 (stats, "keyframes-requested",
            keyframes_requested));
  gst_structure_free (stats);
  return codec;
}

/* stop() forgets the run's codec and size: a client arriving after the next
 * start but before its caps must not get the old run's FORMAT. */
GST_START_TEST (test_stop_forgets_the_format)
{
  GstHarness *h = harness_new (osvdi_test_free_port (NULL));

  gst_harness_set_src_caps_str (h, "video/x-h264, stream-format="
      "byte-stream, alignment=au, width=64, height=48");
  fail_unless_equals_int (gst_harness_push (h,
          gst_buffer_new_allocate (NULL, 100, NULL)), GST_FLOW_OK);
  fail_unless_equals_string (stats_codec (h, NULL), "h264");
  fail_unless (gst_element_set_state (h->element, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_set_state (h->element, GST_STATE_READY)
      == GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_string (stats_codec (h, NULL), "none");
  gst_element_set_state (h->element, GST_STATE_NULL);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Without a client nothing asks upstream for keyframes: deltas and the
 * READY -> PAUSED restart cost the encoder nothing. (With a client, the
 * spicesink-client suite counts the requests.) */
GST_START_TEST (test_no_keyframe_request_without_client)
{
  GstHarness *h = harness_new (osvdi_test_free_port (NULL));
  guint64 requested = G_MAXUINT64;
  guint i;

  gst_harness_set_src_caps_str (h, "video/x-h264, stream-format="
      "byte-stream, alignment=au, width=64, height=48");
  for (i = 0; i < 10; i++) {
    GstBuffer *b = gst_buffer_new_allocate (NULL, 100, NULL);

    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  stats_codec (h, &requested);
  fail_unless_equals_uint64 (requested, 0);
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
spicesink_suite (void)
{
  Suite *s = suite_create ("spicesink");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_defaults);
  tcase_add_test (tc, test_no_ticket_refuses_to_start);
  tcase_add_test (tc, test_password_file);
  tcase_add_test (tc, test_port_in_use);
  tcase_add_test (tc, test_tls_settings);
  tcase_add_test (tc, test_state_cycles);
  tcase_add_test (tc, test_two_sinks_at_once);
  tcase_add_test (tc, test_caps_without_size);
  tcase_add_test (tc, test_server_settings_only_in_null);
  tcase_add_test (tc, test_stop_forgets_the_format);
  tcase_add_test (tc, test_no_keyframe_request_without_client);
  return s;
}

GST_CHECK_MAIN (spicesink);
