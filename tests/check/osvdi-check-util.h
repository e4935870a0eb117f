/* OSVDI - helpers shared by the gst-check suites
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port nobody listens on (bound and released); with @keep, the
 * socket stays bound and listening and is returned in *keep instead. */
static inline gint
osvdi_test_free_port (int *keep)
{
  struct sockaddr_in addr = {.sin_family = AF_INET };
  socklen_t len = sizeof (addr);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gint port;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (fd >= 0);
  fail_unless (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &addr, &len) == 0);
  port = ntohs (addr.sin_port);
  if (keep) {
    fail_unless (listen (fd, 1) == 0);
    *keep = fd;
  } else {
    close (fd);
  }
  return port;
}

/* TRUE when something accepts TCP connections on loopback @port. */
static inline gboolean
osvdi_test_port_accepts (gint port)
{
  struct sockaddr_in addr = {.sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gboolean ok;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = htons (port);
  ok = connect (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0;
  close (fd);
  return ok;
}

/* The error a pipeline posts when it fails to start (READY -> PAUSED), for
 * sources and sinks whose start() checks their settings. */
static inline GError *
osvdi_test_start_error (const gchar * desc)
{
  GstElement *p = gst_parse_launch (desc, NULL);
  GstMessage *m;
  GError *error = NULL;

  fail_unless (p != NULL, "%s", desc);
  fail_unless (gst_element_set_state (p, GST_STATE_PAUSED)
      == GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &error, NULL);
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  return error;
}

/* vfiodmabufsrc on the stand-in QEMU's connection @fd (closed here: the
 * element took its own duplicate), with downstream @caps (NULL: any) and,
 * if @meta, a downstream that takes GstVideoMeta; playing, paced by the
 * system clock. */
static inline GstHarness *
osvdi_test_vfio_harness (gint fd, const gchar * caps, gboolean meta)
{
  GstHarness *h = gst_harness_new ("vfiodmabufsrc");

  g_object_set (h->element, "qemu-display-fd", fd, NULL);
  if (caps)
    gst_harness_set_sink_caps_str (h, caps);
  if (meta)
    gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE,
        NULL);
  gst_harness_use_systemclock (h);
  gst_harness_play (h);
  close (fd);
  return h;
}

/* The next buffer, within gst_harness_pull's 60 s; a failure names the
 * caller's line. */
#define osvdi_test_pull(h) osvdi_test_pull_at (h, __LINE__)
static inline GstBuffer *
osvdi_test_pull_at (GstHarness * h, gint line)
{
  GstBuffer *buf = gst_harness_pull (h);

  fail_unless (buf != NULL, "no frame within 60 s (pulled at line %d)", line);
  return buf;
}

/* Fails the test on any error @pipeline posted so far (popped). */
static inline void
osvdi_test_check_bus (GstElement * pipeline)
{
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
              GST_MESSAGE_ERROR))) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    fail ("pipeline error: %s (%s)", err->message, dbg);
  }
}
