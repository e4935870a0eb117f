/* OSVDI - vfiodmabufsrc on QEMU 10's shared map (Listener.Unix.Map)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Against the stand-in peer in QEMU 10 mode (tests/check/osvdi-fake-qemu.c):
 * it reads the listener's Interfaces and, when Unix.Map is announced,
 * keeps the console in a memfd, shows it once with ScanoutMap and then
 * writes each draw into it and sends an UpdateMap it does not wait for.
 * The element must wrap that memory without a copy, copy it only while
 * downstream still holds a frame, follow a new map's size, and shrug off a
 * peer that sends maps or updates QEMU never would.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <string.h>
#include <unistd.h>

#include "osvdi-check-util.h"
#include "osvdi-fake-qemu.h"

#define W 64
#define H 64

static guint8 *
screen_new (guint width, guint height, guint8 value)
{
  guint8 *px = g_malloc ((gsize) width * 4 * height);

  memset (px, value, (gsize) width * 4 * height);
  return px;
}

/* The peer draws the whole W x H screen in @value. */
static void
draw (OsvdiFakeQemu * f, guint8 value)
{
  guint8 *px = screen_new (W, H, value);

  fail_unless (osvdi_fake_qemu_draw (f, 0, 0, W, H, W * 4, px));
  g_free (px);
}

/* The value every byte of @buf has, or -1 when they differ. */
static gint
uniform_value (GstBuffer * buf)
{
  GstMapInfo map;
  gint value;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  value = map.size ? map.data[0] : -1;
  for (i = 1; i < map.size && value >= 0; i++)
    if (map.data[i] != value)
      value = -1;
  gst_buffer_unmap (buf, &map);
  return value;
}

static GstStructure *
stats_of (GstElement * src)
{
  GstStructure *stats = NULL;

  g_object_get (src, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  return stats;
}

static gboolean
stats_shared_map (GstElement * src)
{
  GstStructure *stats = stats_of (src);
  gboolean shared = FALSE;

  fail_unless (gst_structure_get_boolean (stats, "shared-map", &shared),
      "no shared-map in the stats: %" GST_PTR_FORMAT, stats);
  gst_structure_free (stats);
  return shared;
}

static guint64
stats_uint64 (GstElement * src, const gchar * name)
{
  GstStructure *stats = stats_of (src);
  guint64 v = 0;

  fail_unless (gst_structure_get_uint64 (stats, name, &v),
      "no %s in the stats: %" GST_PTR_FORMAT, name, stats);
  gst_structure_free (stats);
  return v;
}

static void
current_size (GstHarness * h, gint * width, gint * height)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *st;

  fail_unless (caps != NULL);
  st = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_get_int (st, "width", width));
  fail_unless (gst_structure_get_int (st, "height", height));
  gst_caps_unref (caps);
}

/* Frames until one is all @value (at most 50; each within 60 s); every
 * frame on the way must be W x H and each of its bytes @prev or @value. */
static void
pull_until (GstHarness * h, gint prev, guint8 value)
{
  guint i;

  for (i = 0; i < 50; i++) {
    GstBuffer *buf = osvdi_test_pull (h);
    GstMapInfo map;
    gboolean all = TRUE;
    gsize j;
    gint w, hh;

    current_size (h, &w, &hh);
    fail_unless (w == W && hh == H, "a %dx%d frame, not %dx%d", w, hh, W, H);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, W * H * 4);
    for (j = 0; j < map.size; j++) {
      fail_unless (map.data[j] == value || map.data[j] == prev,
          "byte %" G_GSIZE_FORMAT " is 0x%02x, neither 0x%02x nor 0x%02x "
          "(the peer never wrote it)", j, map.data[j], value, prev);
      all = all && map.data[j] == value;
    }
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    if (all)
      return;
  }
  fail ("no frame showing 0x%02x in 50 frames", value);
}

/* ------------------------------------------------------------------------ */
/* (a) A consumer that drops each frame at once: QEMU's memory itself goes
 * downstream, no copy at all, and the frames show what the peer wrote. */

typedef struct
{
  GMutex lock;
  GCond cond;
  gint prev, cur;               /* the two values a frame may show */
  gint last;                    /* the last frame's value, -1: mixed */
  guint frames, foreign;        /* foreign: a byte the peer never wrote */
} Seen;

static void
handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  Seen *seen = data;
  GstMapInfo map;
  gint value;
  gboolean foreign = FALSE;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  value = map.data[0];
  g_mutex_lock (&seen->lock);
  for (i = 0; i < map.size; i++) {
    if (map.data[i] != value)
      value = -1;
    if (map.data[i] != seen->prev && map.data[i] != seen->cur)
      foreign = TRUE;
  }
  seen->last = value;
  seen->frames++;
  seen->foreign += foreign;
  g_cond_broadcast (&seen->cond);
  g_mutex_unlock (&seen->lock);
  gst_buffer_unmap (buf, &map);
}

static gboolean
wait_value (Seen * seen, gint value)
{
  gint64 end = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  gboolean ok;

  g_mutex_lock (&seen->lock);
  while (seen->last != value && g_cond_wait_until (&seen->cond, &seen->lock,
          end));
  ok = seen->last == value;
  g_mutex_unlock (&seen->lock);
  return ok;
}

GST_START_TEST (test_shared_map_without_copies)
{
  const guint n = 12;
  guint8 *screen = screen_new (W, H, 0x10);
  Seen seen = {.prev = 0x10,.cur = 0x10,.last = -2 };
  GstElement *p, *src, *sink;
  OsvdiFakeQemu *f;
  gchar *desc;
  gint fd;
  guint i;

  f = osvdi_fake_qemu_new_full (W, H, W * 4, screen, OSVDI_FAKE_QEMU_10,
      &fd);
  g_mutex_init (&seen.lock);
  g_cond_init (&seen.cond);
  desc = g_strdup_printf ("vfiodmabufsrc name=src qemu-display-fd=%d ! "
      "fakesink name=sink sync=false signal-handoffs=true "
      "enable-last-sample=false", fd);
  p = gst_parse_launch (desc, NULL);
  fail_unless (p != NULL);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (handoff), &seen);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  close (fd);

  fail_unless (osvdi_fake_qemu_wait_scanout (f, 60000), "no scanout");
  fail_unless (osvdi_fake_qemu_uses_map (f),
      "the element did not announce Unix.Map (or refused the map)");
  fail_unless (wait_value (&seen, 0x10), "no first frame");
  for (i = 1; i <= n; i++) {
    guint8 value = 0x10 + i * 0x11;

    g_mutex_lock (&seen.lock);
    seen.prev = seen.cur;
    seen.cur = value;
    g_mutex_unlock (&seen.lock);
    draw (f, value);
    fail_unless (wait_value (&seen, value), "no frame showing draw %u", i);
  }
  fail_unless (stats_shared_map (src), "shared-map is not TRUE");
  fail_unless_equals_uint64 (stats_uint64 (src, "mirror-copies"), 0);
  fail_unless_equals_uint64 (stats_uint64 (src, "map-snapshots"), 0);
  g_mutex_lock (&seen.lock);
  fail_unless (seen.frames >= n + 1);
  fail_unless_equals_int (seen.foreign, 0);
  g_mutex_unlock (&seen.lock);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (p);
  osvdi_fake_qemu_free (f);
  g_mutex_clear (&seen.lock);
  g_cond_clear (&seen.cond);
  g_free (desc);
  g_free (screen);
}

GST_END_TEST;

/* (b) A consumer that keeps every frame: the first one held is QEMU's
 * memory, the frames after it are snapshots, and a held snapshot keeps
 * its pixels while the peer draws on. */
GST_START_TEST (test_held_frames_are_snapshots)
{
  guint8 *screen = screen_new (W, H, 0x20);
  gint fd;
  OsvdiFakeQemu *f = osvdi_fake_qemu_new_full (W, H, W * 4, screen,
      OSVDI_FAKE_QEMU_10, &fd);
  GstHarness *h = osvdi_test_vfio_harness (fd, NULL, FALSE);
  GPtrArray *held = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GstBuffer *shows_v1 = NULL, *buf;
  guint i;

  fail_unless (osvdi_fake_qemu_wait_scanout (f, 60000), "no scanout");
  fail_unless (osvdi_fake_qemu_uses_map (f),
      "the element did not announce Unix.Map (or refused the map)");
  g_ptr_array_add (held, osvdi_test_pull (h));
  draw (f, 0x41);
  for (i = 0; i < 50 && !shows_v1; i++) {
    buf = osvdi_test_pull (h);
    g_ptr_array_add (held, buf);
    if (uniform_value (buf) == 0x41)
      shows_v1 = buf;
  }
  fail_unless (shows_v1 != NULL, "no frame showing the first draw");
  draw (f, 0x82);
  for (i = 0; i < 50; i++) {
    buf = osvdi_test_pull (h);
    g_ptr_array_add (held, buf);
    if (uniform_value (buf) == 0x82)
      break;
  }
  fail_unless (i < 50, "no frame showing the second draw");
  /* The peer has written 0x82 over its memory: the held frame did not
   * follow it. */
  fail_unless_equals_int (uniform_value (shows_v1), 0x41);
  fail_unless (stats_shared_map (h->element));
  fail_unless (stats_uint64 (h->element, "map-snapshots") > 0,
      "frames made while one was held are no snapshots");
  fail_unless_equals_uint64 (stats_uint64 (h->element, "mirror-copies"), 0);

  g_ptr_array_unref (held);
  gst_harness_teardown (h);
  osvdi_fake_qemu_free (f);
  g_free (screen);
}

GST_END_TEST;

/* (c) A new surface (a resize): a ScanoutMap of another memfd with
 * another size, its rows after an offset, gives caps of that size and its
 * pixels; draws on it follow. */
GST_START_TEST (test_resize_through_a_new_map)
{
  const guint nw = 96, nh = 48;
  guint8 *screen = screen_new (W, H, 0x30), *bigger = screen_new (nw, nh,
      0x77), *px;
  gint fd, w, hh;
  OsvdiFakeQemu *f = osvdi_fake_qemu_new_full (W, H, W * 4, screen,
      OSVDI_FAKE_QEMU_10, &fd);
  GstHarness *h = osvdi_test_vfio_harness (fd, NULL, FALSE);
  GstBuffer *buf;
  guint i;

  fail_unless (osvdi_fake_qemu_wait_scanout (f, 60000), "no scanout");
  buf = osvdi_test_pull (h);
  current_size (h, &w, &hh);
  fail_unless (w == W && hh == H);
  gst_buffer_unref (buf);

  fail_unless (osvdi_fake_qemu_resize (f, nw, nh, nw * 4, 4096, bigger),
      "the element refused a good ScanoutMap");
  for (i = 0; i < 50; i++) {
    buf = osvdi_test_pull (h);
    current_size (h, &w, &hh);
    if (w == (gint) nw)
      break;
    gst_buffer_unref (buf);
  }
  fail_unless (i < 50, "no frame of the new size");
  fail_unless_equals_int (hh, nh);
  fail_unless_equals_int (gst_buffer_get_size (buf), nw * nh * 4);
  fail_unless_equals_int (uniform_value (buf), 0x77);
  gst_buffer_unref (buf);

  /* Draws land on the new surface. */
  px = screen_new (8, 8, 0x99);
  fail_unless (osvdi_fake_qemu_draw (f, nw - 8, nh - 8, 8, 8, 8 * 4, px));
  for (i = 0; i < 50; i++) {
    GstMapInfo map;
    gboolean shown;

    buf = osvdi_test_pull (h);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    shown = map.data[map.size - 1] == 0x99 && map.data[0] == 0x77;
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    if (shown)
      break;
  }
  fail_unless (i < 50, "the draw on the new surface did not show");
  fail_unless (stats_shared_map (h->element));

  gst_harness_teardown (h);
  osvdi_fake_qemu_free (f);
  g_free (px);
  g_free (bigger);
  g_free (screen);
}

GST_END_TEST;

/* (d) A hostile peer: maps that do not hold the surface, strides too
 * short, unknown formats, no fd, and updates before any map or outside
 * it. Nothing crashes (a map read past its memfd is a SIGBUS), and the
 * element keeps serving the last good map. */
static const OsvdiFakeMapAbuse abuses[] = {
  OSVDI_FAKE_MAP_SHORT_FD, OSVDI_FAKE_MAP_OFFSET_OVERFLOW,
  OSVDI_FAKE_MAP_SHORT_STRIDE, OSVDI_FAKE_MAP_BAD_FORMAT,
  OSVDI_FAKE_MAP_ZERO_SIZE, OSVDI_FAKE_MAP_NO_FD, OSVDI_FAKE_MAP_BAD_HANDLE,
  OSVDI_FAKE_MAP_PIPE,
};

GST_START_TEST (test_hostile_maps_ignored)
{
  guint8 *screen = screen_new (W, H, 0x50);
  gint fd, prev = 0x50;
  OsvdiFakeQemu *f = osvdi_fake_qemu_new_full (W, H, W * 4, screen,
      OSVDI_FAKE_QEMU_10, &fd);
  GstHarness *h = osvdi_test_vfio_harness (fd, NULL, FALSE);
  guint i;

  fail_unless (osvdi_fake_qemu_wait_scanout (f, 60000), "no scanout");
  fail_unless (osvdi_fake_qemu_uses_map (f));
  pull_until (h, 0x50, 0x50);
  for (i = 0; i < G_N_ELEMENTS (abuses); i++) {
    guint8 value = 0x60 + i;

    fail_unless (osvdi_fake_qemu_scanout_map_abuse (f, abuses[i]),
        "abuse %u was not answered", abuses[i]);
    /* An update that would show the bad map, were it taken. */
    osvdi_fake_qemu_update_map (f, 0, 0, W, H);
    draw (f, value);
    pull_until (h, prev, value);
    prev = value;
  }
  /* Updates outside the map: ignored, the next good one shows. */
  osvdi_fake_qemu_update_map (f, W - 8, 0, 16, 16);
  osvdi_fake_qemu_update_map (f, -1, 0, 8, 8);
  osvdi_fake_qemu_update_map (f, 0, 0, 0, 0);
  osvdi_fake_qemu_update_map (f, 0, 0, G_MAXINT32, G_MAXINT32);
  draw (f, 0x7f);
  pull_until (h, prev, 0x7f);
  fail_unless (stats_shared_map (h->element));

  gst_harness_teardown (h);
  osvdi_fake_qemu_free (f);
  g_free (screen);
}

GST_END_TEST;

/* Before any map: UpdateMaps and bad maps show nothing; the first good
 * ScanoutMap is the first frame. */
GST_START_TEST (test_updates_before_any_map_ignored)
{
  guint8 *screen = screen_new (W, H, 0x11), *good = screen_new (W, H, 0x99);
  gint fd;
  OsvdiFakeQemu *f = osvdi_fake_qemu_new_full (W, H, W * 4, screen,
      OSVDI_FAKE_QEMU_10 | OSVDI_FAKE_QEMU_NO_SCANOUT, &fd);
  GstHarness *h = osvdi_test_vfio_harness (fd, NULL, FALSE);
  GstBuffer *buf;
  gint w, hh;
  guint i;

  fail_unless (osvdi_fake_qemu_wait_listener (f, 60000), "no listener");
  osvdi_fake_qemu_update_map (f, 0, 0, W, H);
  for (i = 0; i < G_N_ELEMENTS (abuses); i++) {
    fail_unless (osvdi_fake_qemu_scanout_map_abuse (f, abuses[i]),
        "abuse %u was not answered", abuses[i]);
    osvdi_fake_qemu_update_map (f, 0, 0, W, H);
  }
  fail_unless (osvdi_fake_qemu_resize (f, W, H, W * 4, 0, good),
      "the element refused a good ScanoutMap");
  /* Had the element taken one of the bad maps (all zero bytes) or made a
   * frame before a map, it would come first. */
  buf = osvdi_test_pull (h);
  current_size (h, &w, &hh);
  fail_unless (w == W && hh == H);
  fail_unless_equals_int (uniform_value (buf), 0x99);
  gst_buffer_unref (buf);
  fail_unless (stats_shared_map (h->element));

  gst_harness_teardown (h);
  osvdi_fake_qemu_free (f);
  g_free (good);
  g_free (screen);
}

GST_END_TEST;

static Suite *
qemumap_suite (void)
{
  Suite *s = suite_create ("qemumap");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_shared_map_without_copies);
  tcase_add_test (tc, test_held_frames_are_snapshots);
  tcase_add_test (tc, test_resize_through_a_new_map);
  tcase_add_test (tc, test_hostile_maps_ignored);
  tcase_add_test (tc, test_updates_before_any_map_ignored);
  return s;
}

GST_CHECK_MAIN (qemumap);
