/* OSVDI - vfiodmabufsrc against the kernel's real mdev display drivers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Runs inside the micro-VM (tests/vm/run.sh). The test plays the guest
 * (VBE modes through mbochs' BAR2, patterns into VRAM through BAR0) and
 * runs pipelines with `vfiodmabufsrc device-fd=...` (a VFIO group opens
 * once: the test holds it and hands the device fd over).
 */
#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <gst/allocators/gstdmabuf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-guest.h"
#include "osvdi-check-util.h"
#include "osvdi-fake-qemu.h"

#define MBOCHS_UUID "6d0d4b9e-1b4a-4a3b-9a33-000000000001"
#define MDPY_UUID "6d0d4b9e-1b4a-4a3b-9a33-000000000002"

typedef struct
{
  const gchar *uuid;
  OsvdiVfioDevice *dev;
  gint fd;
  guint32 *vram;
  gsize vram_size;
} Guest;

/* Without fork (CK_FORK=no in the VM: the group opens once) a failed
 * assertion leaves its test at once, its pipeline playing on its mediated
 * device: every later test then failed to create the device ("File
 * exists") and one of them hung until the VM's timeout, so no failure was
 * ever printed. What a test holds is tracked here and the checked teardown
 * stops it: the run ends with each failure's message. */
static GstElement *test_pipeline;       /* the last made by pipeline_new () */
static Guest test_guest;                /* what guest_open () set up so far */

static void
drop_test_pipeline (void)
{
  if (test_pipeline) {
    gst_element_set_state (test_pipeline, GST_STATE_NULL);
    gst_object_unref (test_pipeline);
    test_pipeline = NULL;
  }
}

static void
teardown_leftovers (void)
{
  Guest g = test_guest;

  drop_test_pipeline ();
  memset (&test_guest, 0, sizeof (test_guest));
  if (g.vram)
    munmap (g.vram, g.vram_size);
  if (g.dev)
    osvdi_vfio_close (g.dev);
  if (g.uuid && !osvdi_mdev_remove ("/sys", g.uuid, NULL))
    g_printerr ("vfiodmabufsrc-test: mediated device %s left\n", g.uuid);
}

static guint32
pattern (guint x, guint y, guint seed)
{
  return ((x * 7 + y + seed) & 0xff) << 16 | ((y * 3 + seed) & 0xff) << 8
      | ((x ^ y) & 0xff);
}

static void
guest_open (Guest * g, const gchar * parent, const gchar * type,
    const gchar * uuid)
{
  struct vfio_region_info info = {.argsz = sizeof (info),.index = 0 };
  GError *error = NULL;

  g->uuid = uuid;
  fail_unless (osvdi_mdev_create ("/sys", parent, type, uuid, &error), "%s",
      error ? error->message : "");
  test_guest.uuid = uuid;
  g->dev = osvdi_vfio_open_mdev ("/sys", uuid, &error);
  fail_unless (g->dev != NULL, "%s", error ? error->message : "");
  test_guest.dev = g->dev;
  g->fd = osvdi_vfio_device_fd (g->dev);
  fail_unless (ioctl (g->fd, VFIO_DEVICE_GET_REGION_INFO, &info) == 0);
  g->vram = mmap (NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd,
      info.offset);
  fail_unless (g->vram != MAP_FAILED);
  g->vram_size = info.size;
  test_guest = *g;
}

static void
guest_close (Guest * g)
{
  /* The test's own unref left ours the last: the pipeline goes before its
   * device, as it did before the tracking. */
  drop_test_pipeline ();
  memset (&test_guest, 0, sizeof (test_guest));
  munmap (g->vram, g->vram_size);
  osvdi_vfio_close (g->dev);
  fail_unless (osvdi_mdev_remove ("/sys", g->uuid, NULL));
}

static void
set_mode (Guest * g, guint w, guint h)
{
  fail_unless (osvdi_guest_set_mode (g->fd, w, h));
}

static void
set_mode_pitch (Guest * g, guint w, guint h, guint pitch)
{
  fail_unless (osvdi_guest_set_mode_pitch (g->fd, w, h, pitch));
}

static void
draw (Guest * g, guint w, guint h, guint stride_px, guint seed)
{
  guint x, y;

  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++)
      g->vram[y * stride_px + x] = pattern (x, y, seed);
}

static GstElement *
pipeline_new (Guest * g, const gchar * filter)
{
  gchar *desc = g_strdup_printf ("vfiodmabufsrc name=src device-fd=%d %s%s"
      "! appsink name=sink sync=false max-buffers=2 drop=true", g->fd,
      filter ? "! " : "", filter ? filter : "");
  GError *error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);

  fail_unless (p != NULL, "%s", error ? error->message : "");
  g_free (desc);
  if (test_pipeline)
    gst_object_unref (test_pipeline);
  test_pipeline = gst_object_ref (p);
  return p;
}

/* Pulls samples until one has the size wanted (mode changes take a frame
 * or two), within ~5 s. */
static GstSample *
pull_size (GstElement * p, gint w, gint h)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstSample *sample = NULL;
  guint i;

  for (i = 0; i < 100; i++) {
    GstVideoInfo info;

    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        100 * GST_MSECOND);
    if (!sample)
      continue;
    if (gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
        && info.width == w && info.height == h)
      break;
    gst_sample_unref (sample);
    sample = NULL;
  }
  gst_object_unref (sink);
  fail_unless (sample != NULL, "no %dx%d frame", w, h);
  return sample;
}

/* The frame layout of @caps. GStreamer >= 1.24 describes dmabufs as
 * format=DMA_DRM with the pixel format in drm-format, which a plain
 * GstVideoInfo (and so gst_video_frame_map) cannot carry: the linear ones
 * convert (mbochs' are linear). */
static gboolean
frame_info_from_caps (GstVideoInfo * info, GstCaps * caps)
{
#if GST_CHECK_VERSION (1, 24, 0)
  if (gst_video_is_dma_drm_caps (caps)) {
    GstVideoInfoDmaDrm drm;

    return gst_video_info_dma_drm_from_caps (&drm, caps)
        && gst_video_info_dma_drm_to_video_info (&drm, info);
  }
#endif
  return gst_video_info_from_caps (info, caps);
}

/* The caps every frame here has: mbochs scans out XRGB8888 (its one
 * 32-bit mode; the stand-in QEMU peer announces the same fourcc) with
 * modifier 0, linear. On GStreamer >= 1.24 a dmabuf is format=DMA_DRM
 * with drm-format "XR24" (a linear modifier has no ":0x..." suffix); on
 * 1.22, and in system memory on both, it is the classic BGRx
 * (XRGB8888's bytes in memory) and no drm-format. */
static void
check_caps (GstCaps * caps, gboolean want_dmabuf)
{
  GstStructure *st = gst_caps_get_structure (caps, 0);

  fail_unless_equals_int (gst_caps_get_size (caps), 1);
  fail_unless_equals_int (gst_caps_features_contains (gst_caps_get_features
          (caps, 0), GST_CAPS_FEATURE_MEMORY_DMABUF), want_dmabuf);
#if GST_CHECK_VERSION (1, 24, 0)
  fail_unless_equals_int (gst_video_is_dma_drm_caps (caps), want_dmabuf);
  if (want_dmabuf) {
    fail_unless_equals_string (gst_structure_get_string (st, "format"),
        "DMA_DRM");
    fail_unless_equals_string (gst_structure_get_string (st, "drm-format"),
        "XR24");
    return;
  }
#endif
  fail_unless_equals_string (gst_structure_get_string (st, "format"),
      "BGRx");
  fail_if (gst_structure_has_field (st, "drm-format"), "caps %"
      GST_PTR_FORMAT, caps);
}

static void
check_sample (GstSample * sample, guint seed, gboolean want_dmabuf)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoInfo info;
  GstVideoFrame frame;
  guint x, y, bad = 0;

  check_caps (caps, want_dmabuf);
  fail_unless (frame_info_from_caps (&info, caps), "caps %" GST_PTR_FORMAT,
      caps);
  if (want_dmabuf)
    fail_unless (gst_is_dmabuf_memory (gst_buffer_peek_memory (buf, 0)));
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_READ));
  for (y = 0; y < (guint) info.height; y += 5)
    for (x = 0; x < (guint) info.width; x += 3) {
      guint32 v;

      memcpy (&v, (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
          + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0) + x * 4, 4);
      if ((v & 0xffffff) != pattern (x, y, seed))
        bad++;
    }
  gst_video_frame_unmap (&frame);
  fail_unless_equals_int (bad, 0);
}

static GstMessage *
wait_message (GstElement * p, GstMessageType types, guint ms)
{
  return gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), ms * GST_MSECOND,
      types);
}

GST_START_TEST (test_mbochs_dmabuf_and_mode_change)
{
  Guest g;
  GstElement *p;
  GstMessage *m;
  GstSample *s;

  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  set_mode (&g, 1024, 768);
  draw (&g, 1024, 768, 1024, 1);

  /* appsink takes anything: the dmabuf path. */
  p = pipeline_new (&g, NULL);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  s = pull_size (p, 1024, 768);
  check_sample (s, 1, TRUE);
  gst_sample_unref (s);

  /* The guest switches to 800x600 mid-stream, keeping its 1024-pixel pitch
   * (VBE virtual width): new caps, the stride in GstVideoMeta, right
   * pixels. */
  set_mode_pitch (&g, 800, 600, 1024);
  draw (&g, 800, 600, 1024, 2);
  s = pull_size (p, 800, 600);
  check_sample (s, 2, TRUE);
  fail_unless_equals_int (gst_buffer_get_video_meta (gst_sample_get_buffer
          (s))->stride[0], 4096);
  gst_sample_unref (s);

  /* And to a packed 640x480. */
  set_mode (&g, 640, 480);
  draw (&g, 640, 480, 640, 6);
  s = pull_size (p, 640, 480);
  check_sample (s, 6, TRUE);
  gst_sample_unref (s);

  /* Display disabled: waiting; enabled again: frames again. */
  set_mode (&g, 0, 0);
  m = wait_message (p, GST_MESSAGE_ELEMENT, 5000);
  fail_unless (m != NULL, "no waiting-for-display message");
  /* A message holds its source element: unreffed, or the pipeline leaks. */
  gst_message_unref (m);
  set_mode (&g, 1024, 768);
  draw (&g, 1024, 768, 1024, 3);
  s = pull_size (p, 1024, 768);
  check_sample (s, 3, TRUE);
  gst_sample_unref (s);

  fail_unless (gst_element_set_state (p, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  guest_close (&g);
}

GST_END_TEST;

GST_START_TEST (test_mbochs_system_memory)
{
  Guest g;
  GstElement *p;
  GstSample *s;

  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  set_mode (&g, 1024, 768);
  draw (&g, 1024, 768, 1024, 4);
  /* Downstream without dmabuf caps: the same pages, mapped. */
  p = pipeline_new (&g, "video/x-raw,format=BGRx ");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  s = pull_size (p, 1024, 768);
  check_sample (s, 4, FALSE);
  gst_sample_unref (s);
  /* A padded pitch to a downstream without GstVideoMeta (appsink): the one
   * case that copies, to GStreamer's default stride. */
  set_mode_pitch (&g, 800, 600, 1024);
  draw (&g, 800, 600, 1024, 8);
  s = pull_size (p, 800, 600);
  check_sample (s, 8, FALSE);
  gst_sample_unref (s);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  guest_close (&g);
}

GST_END_TEST;

/* A packed 800x600 scanout is 1,920,000 bytes: mbochs exports exactly that,
 * and the kernel maps dmabufs only in whole pages. An importer gets it; a
 * system-memory downstream gets an error that says why, not a bad map. */
GST_START_TEST (test_unmappable_dmabuf)
{
  Guest g;
  GstElement *p;
  GstMessage *m;
  GstSample *s;
  GstBuffer *buf;
  GError *err = NULL;

  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  set_mode (&g, 800, 600);
  draw (&g, 800, 600, 800, 7);

  p = pipeline_new (&g, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  s = pull_size (p, 800, 600);
  buf = gst_sample_get_buffer (s);
  fail_unless (gst_is_dmabuf_memory (gst_buffer_peek_memory (buf, 0)));
  fail_unless_equals_int (gst_buffer_get_size (buf), 800 * 600 * 4);
  gst_sample_unref (s);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  p = pipeline_new (&g, "video/x-raw,format=BGRx ");
  gst_element_set_state (p, GST_STATE_PLAYING);
  m = wait_message (p, GST_MESSAGE_ERROR, 10000);
  fail_unless (m != NULL, "no error");
  gst_message_parse_error (m, &err, NULL);
  fail_unless (strstr (err->message, "not a whole number of pages"), "%s",
      err->message);
  fail_unless (strstr (err->message, "800x600"), "%s", err->message);
  g_error_free (err);
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  guest_close (&g);
}

GST_END_TEST;

GST_START_TEST (test_no_mode_yet_and_prompt_stop)
{
  Guest g;
  GstElement *p;
  GstMessage *m;
  GstSample *s;

  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  set_mode (&g, 0, 0);
  p = pipeline_new (&g, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  m = wait_message (p, GST_MESSAGE_ELEMENT, 5000);
  fail_unless (m != NULL);
  fail_unless (gst_message_has_name (m, "vfiodmabufsrc/waiting-for-display"));
  gst_message_unref (m);
  /* Once only. */
  fail_unless (wait_message (p, GST_MESSAGE_ELEMENT, 500) == NULL);

  set_mode (&g, 1024, 768);
  draw (&g, 1024, 768, 1024, 5);
  s = pull_size (p, 1024, 768);
  check_sample (s, 5, TRUE);
  gst_sample_unref (s);

  /* Waiting again, then NULL: unlock wakes it (the test's timeout would
   * catch a hang). */
  set_mode (&g, 0, 0);
  m = wait_message (p, GST_MESSAGE_ELEMENT, 5000);
  fail_unless (m != NULL);
  gst_message_unref (m);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL)
      == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  guest_close (&g);
}

GST_END_TEST;

GST_START_TEST (test_mdpy_region)
{
  Guest g;
  GstElement *p;
  GstSample *s;

  guest_open (&g, "mdpy", "mdpy-xga", MDPY_UUID);
  draw (&g, 1024, 768, 1024, 6);
  p = pipeline_new (&g, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  s = pull_size (p, 1024, 768);
  check_sample (s, 6, FALSE);
  gst_sample_unref (s);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  guest_close (&g);
}

GST_END_TEST;

GST_START_TEST (test_errors)
{
  Guest g;
  GError *e;
  gchar *desc;

  e = osvdi_test_start_error ("vfiodmabufsrc "
      "mdev=00000000-0000-0000-0000-00000000dead ! fakesink");
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND), "%s", e->message);
  fail_unless (strstr (e->message, "no mediated device"));
  g_error_free (e);

  e = osvdi_test_start_error ("vfiodmabufsrc ! fakesink");
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  g_error_free (e);

  /* A mediated device without a display (the mtty sample, serial ports). */
  fail_unless (osvdi_mdev_create ("/sys", "mtty", "mtty-1",
          "6d0d4b9e-1b4a-4a3b-9a33-000000000009", NULL));
  e = osvdi_test_start_error ("vfiodmabufsrc "
      "mdev=6d0d4b9e-1b4a-4a3b-9a33-000000000009 ! fakesink");
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS), "%s", e->message);
  fail_unless (strstr (e->message, "no display support"), "%s", e->message);
  g_error_free (e);
  fail_unless (osvdi_mdev_remove ("/sys",
          "6d0d4b9e-1b4a-4a3b-9a33-000000000009", NULL));

  /* The test holds the group: a second opener is told who has it. */
  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  desc = g_strdup_printf ("vfiodmabufsrc mdev=%s ! fakesink", MBOCHS_UUID);
  e = osvdi_test_start_error (desc);
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_BUSY), "%s", e->message);
  fail_unless (strstr (e->message, "another process such as QEMU"));
  g_error_free (e);
  g_free (desc);
  guest_close (&g);
}

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* QEMU's D-Bus display in GL mode. No render node here, so no QEMU with
 * gl=on; but mbochs exports real dmabufs, and a stand-in peer
 * (tests/check/osvdi-fake-qemu.c) hands one to the element exactly as QEMU
 * 7.2 does (ScanoutDMABUF, UpdateDMABUF). The real-QEMU tests
 * (tests/check/elements/qemudisplay.c) cover everything else of the
 * provider. */

typedef struct
{
  GMutex lock;
  GCond cond;
  guint frames;                 /* seen at the sink */
  gboolean holding, release;    /* the update's frame, held downstream */
} Hold;

/* Downstream holds the second frame (the update's) until told, then drops
 * it: the buffer is freed right there. */
static GstPadProbeReturn
hold_update_frame (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Hold *h = data;

  g_mutex_lock (&h->lock);
  if (++h->frames != 2) {
    g_mutex_unlock (&h->lock);
    return GST_PAD_PROBE_OK;
  }
  h->holding = TRUE;
  g_cond_broadcast (&h->cond);
  while (!h->release)
    g_cond_wait (&h->cond, &h->lock);
  g_mutex_unlock (&h->lock);
  return GST_PAD_PROBE_DROP;
}

static gboolean
hold_wait (Hold * h, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  gboolean ok;

  g_mutex_lock (&h->lock);
  while (!h->holding && g_cond_wait_until (&h->cond, &h->lock, end));
  ok = h->holding;
  g_mutex_unlock (&h->lock);
  return ok;
}

GST_START_TEST (test_qemu_gl_scanout_dmabuf)
{
  Guest g;
  OsvdiPlane plane;
  OsvdiFakeQemu *f;
  Hold h = { 0 };
  GstElement *p, *sink;
  GstSample *s;
  gint fd, dmabuf;
  gchar *desc;

  guest_open (&g, "mbochs", "mbochs-small", MBOCHS_UUID);
  /* The last test: none after it to spoil, and its pipeline may be held
   * in the probe (its state on this stack), so the teardown leaves it. */
  memset (&test_guest, 0, sizeof (test_guest));
  set_mode (&g, 1024, 768);
  draw (&g, 1024, 768, 1024, 9);
  fail_unless (osvdi_vfio_query_primary (g.dev, OSVDI_PLANE_DMABUF, &plane,
          NULL));
  dmabuf = osvdi_vfio_dmabuf_fd (g.dev, plane.id, NULL);
  fail_unless (dmabuf >= 0);

  f = osvdi_fake_qemu_new (plane.width, plane.height, plane.stride, dmabuf,
      NULL, &fd);
  desc = g_strdup_printf ("vfiodmabufsrc qemu-display-fd=%d ! appsink "
      "name=sink sync=false enable-last-sample=false max-buffers=4", fd);
  p = gst_parse_launch (desc, NULL);
  g_free (desc);
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  {
    GstPad *pad = gst_element_get_static_pad (sink, "sink");

    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, hold_update_frame, &h,
        NULL);
    gst_object_unref (pad);
  }
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  close (fd);
  fail_unless (osvdi_fake_qemu_wait_scanout (f, 10000), "no ScanoutDMABUF");

  /* The guest's dmabuf itself, zero copy: DMABuf caps, the pattern. */
  s = pull_size (p, 1024, 768);
  check_sample (s, 9, TRUE);
  gst_sample_unref (s);

  /* An UpdateDMABUF is answered only once the frame showing it is gone
   * (QEMU draws again after that answer). */
  osvdi_fake_qemu_update_dmabuf (f);
  fail_unless (hold_wait (&h, 10000), "no frame for the update");
  fail_if (osvdi_fake_qemu_wait_update_replied (f, 500),
      "UpdateDMABUF answered while the frame was still held");
  g_mutex_lock (&h.lock);
  h.release = TRUE;
  g_cond_broadcast (&h.cond);
  g_mutex_unlock (&h.lock);
  fail_unless (osvdi_fake_qemu_wait_update_replied (f, 5000),
      "UpdateDMABUF never answered after the frame was released");

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  osvdi_fake_qemu_free (f);
  guest_close (&g);
}

GST_END_TEST;

static Suite *
vfiodmabufsrc_suite (void)
{
  Suite *s = suite_create ("vfiodmabufsrc");
  TCase *tc = tcase_create ("vm");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_checked_fixture (tc, NULL, teardown_leftovers);
  if (!g_getenv ("OSVDI_IN_VM"))
    return s;                   /* outside the micro-VM: nothing to run */
  tcase_add_test (tc, test_mbochs_dmabuf_and_mode_change);
  tcase_add_test (tc, test_mbochs_system_memory);
  tcase_add_test (tc, test_unmappable_dmabuf);
  tcase_add_test (tc, test_no_mode_yet_and_prompt_stop);
  tcase_add_test (tc, test_mdpy_region);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_qemu_gl_scanout_dmabuf);
  return s;
}

int
main (int argc, char **argv)
{
  gint failed;

  gst_check_init (&argc, &argv);
  failed = gst_check_run_suite (vfiodmabufsrc_suite (), "vfiodmabufsrc",
      __FILE__);
  /* The VM runs without forking (CK_FORK=no: the group opens once): a failed
   * test leaves its pipeline playing, so do not wait for it at exit. */
  if (failed) {
    fflush (stdout);
    fflush (stderr);
    _exit (1);
  }
  return 0;
}
