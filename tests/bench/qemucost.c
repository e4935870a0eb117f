/* OSVDI - vfiodmabufsrc's cost per frame on QEMU's D-Bus display without GL
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-bench-qemucost --width 1920 --height 1080 [--rect 64] [--frames 60]
 *       [--peer qemu72|qemu10]
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=listener_method \
 *     --toggle-collect=gst_vfio_dmabuf_src_create osvdi-bench-qemucost ...
 *
 * A stand-in QEMU (tests/check/osvdi-fake-qemu.c) shows a scanout, then the
 * guest draws one change per frame: the whole screen, or a --rect square
 * (a blinking cursor, a typed character), and the bench waits for the
 * frame that shows it at `vfiodmabufsrc qemu-display-fd=... ! fakesink
 * enable-last-sample=false`.
 *
 * --peer qemu72 (the default): QEMU 7.2 sends each change as an Update,
 * pixels inline; the element copies it into its mirror (in
 * listener_method, on its D-Bus thread) and pushes the mirror itself
 * (create); it copies the whole mirror only when a change finds the last
 * frame still held ("mirror_copies").
 * --peer qemu10: QEMU 10 shares the console as a memfd (ScanoutMap, when
 * the element announces org.qemu.Display1.Listener.Unix.Map), writes each
 * change into it and sends only an UpdateMap, without waiting; the element
 * pushes the mapping itself, or a copy of it while downstream still holds
 * an earlier frame ("map_snapshots"). Without the announcement the peer
 * falls back to 7.2's Update ("shared_map": false).
 *
 * The toggles count both threads' work. Prints one JSON line with the peer,
 * the element's stats and the CPU time per frame of the element's two
 * threads (its streaming thread and its D-Bus display thread, from /proc's
 * schedstat): GDBus's own worker, which reads both peers' messages here,
 * and the stand-in's drawing are left out. Meaningless under valgrind,
 * which counts instructions instead.
 */
#include <gst/gst.h>
#include <string.h>
#include <unistd.h>

#include "osvdi-fake-qemu.h"

typedef struct
{
  GMutex lock;
  GCond cond;
  guint frames;
  gint first_byte;              /* of the last frame; -1: none since reset */
} Seen;

static void
handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  Seen *seen = data;
  guint8 b = 0;

  /* A change is seen by its first pixel (every update covers 0,0): the
   * frame count alone would not tell, as a scanout and its first update
   * may make one frame or two. */
  gst_buffer_extract (buf, 0, &b, 1);
  g_mutex_lock (&seen->lock);
  seen->frames++;
  seen->first_byte = b;
  g_cond_broadcast (&seen->cond);
  g_mutex_unlock (&seen->lock);
}

static void
seen_reset (Seen * seen)
{
  g_mutex_lock (&seen->lock);
  seen->first_byte = -1;
  g_mutex_unlock (&seen->lock);
}

/* A frame whose first byte is @value came since seen_reset(). */
static gboolean
wait_value (Seen * seen, guint8 value)
{
  gint64 end = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  gboolean ok;

  g_mutex_lock (&seen->lock);
  while (seen->first_byte != value && g_cond_wait_until (&seen->cond,
          &seen->lock, end));
  ok = seen->first_byte == value;
  g_mutex_unlock (&seen->lock);
  return ok;
}

/* CPU nanoseconds so far of this process's threads whose name starts with
 * @comm (the kernel keeps 15 characters of a name). */
static guint64
thread_cpu_ns (const gchar * comm)
{
  GDir *dir = g_dir_open ("/proc/self/task", 0, NULL);
  const gchar *tid;
  guint64 total = 0;

  while (dir && (tid = g_dir_read_name (dir))) {
    gchar *path = g_strdup_printf ("/proc/self/task/%s/comm", tid);
    gchar *name = NULL, *stat = NULL;

    if (g_file_get_contents (path, &name, NULL, NULL)
        && g_str_has_prefix (g_strstrip (name), comm)) {
      g_free (path);
      path = g_strdup_printf ("/proc/self/task/%s/schedstat", tid);
      if (g_file_get_contents (path, &stat, NULL, NULL))
        total += g_ascii_strtoull (stat, NULL, 10);
    }
    g_free (stat);
    g_free (name);
    g_free (path);
  }
  if (dir)
    g_dir_close (dir);
  return total;
}

static guint64
element_cpu_ns (void)
{
  return thread_cpu_ns ("src:src") + thread_cpu_ns ("qemu-display");
}

int
main (int argc, char **argv)
{
  gint width = 1920, height = 1080, frames = 60, rect = 0;
  gchar *peer = NULL;
  gboolean qemu10;
  GOptionEntry entries[] = {
    {"peer", 0, 0, G_OPTION_ARG_STRING, &peer,
        "the stand-in QEMU: qemu72 (Update inline, the default) or qemu10 "
          "(Unix.Map when the element announces it)", NULL},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, NULL, NULL},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, NULL, NULL},
    {"frames", 0, 0, G_OPTION_ARG_INT, &frames, NULL, NULL},
    {"rect", 0, 0, G_OPTION_ARG_INT, &rect,
        "update a square of this size (0: the whole screen)", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- vfiodmabufsrc on QEMU's "
      "D-Bus display");
  GError *error = NULL;
  OsvdiFakeQemu *f;
  GstElement *p, *sink;
  Seen seen = {.first_byte = -1 };
  guint8 *screens[2];
  guint64 cpu0, cpu1, src0, src1;
  gsize size;
  gint fd, i, uw, uh;
  gchar *desc;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || width <= 0
      || height <= 0 || frames <= 0 || rect < 0 || rect > MIN (width, height)
      || (peer && !g_str_equal (peer, "qemu72") && !g_str_equal (peer,
              "qemu10")))
    g_error ("usage: osvdi-bench-qemucost --width W --height H [--rect N] "
        "[--frames N] [--peer qemu72|qemu10]");
  g_option_context_free (ctx);
  qemu10 = peer && g_str_equal (peer, "qemu10");
  g_mutex_init (&seen.lock);
  g_cond_init (&seen.cond);

  /* Two different screens: every update really changes the pixels. */
  size = (gsize) width * height * 4;
  for (i = 0; i < 2; i++) {
    screens[i] = g_malloc (size);
    memset (screens[i], i ? 0xc0 : 0x30, size);
  }
  uw = rect ? rect : width;
  uh = rect ? rect : height;

  f = osvdi_fake_qemu_new_full (width, height, width * 4, screens[0],
      qemu10 ? OSVDI_FAKE_QEMU_10 : 0, &fd);
  desc = g_strdup_printf ("vfiodmabufsrc name=src qemu-display-fd=%d ! fakesink "
      "name=sink sync=false signal-handoffs=true enable-last-sample=false", fd);
  p = gst_parse_launch (desc, &error);
  if (!p)
    g_error ("%s", error->message);
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (handoff), &seen);
  if (gst_element_set_state (p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    g_error ("the pipeline does not start");
  close (fd);
  if (!osvdi_fake_qemu_wait_scanout (f, 60000)
      || !wait_value (&seen, screens[0][0]))
    g_error ("no first frame");

  cpu0 = element_cpu_ns ();
  src0 = thread_cpu_ns ("src:src");
  for (i = 0; i < frames; i++) {
    const guint8 *screen = screens[(i + 1) % 2];

    seen_reset (&seen);
    /* 7.2: an Update answered before the next; 10: a write into the
     * shared memfd and an UpdateMap not waited for (7.2's Update if the
     * element did not announce Unix.Map). */
    if (qemu10 ? !osvdi_fake_qemu_draw (f, 0, 0, uw, uh, width * 4, screen)
        : !osvdi_fake_qemu_update (f, 0, 0, uw, uh, width * 4, screen))
      g_error ("update %d was not sent or not answered", i);
    if (!wait_value (&seen, screen[0]))
      g_error ("no frame for update %d", i);
  }
  cpu1 = element_cpu_ns ();
  src1 = thread_cpu_ns ("src:src");
  if (cpu1 == cpu0)
    g_error ("no schedstat for the element's threads");
  {
    GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
    GstStructure *stats = NULL;
    guint64 copies = 0, snapshots = 0, pushed = 0;
    gboolean shared = FALSE, have_shared;

    g_object_get (src, "stats", &stats, NULL);
    gst_structure_get_uint64 (stats, "frames", &pushed);
    gst_structure_get_uint64 (stats, "mirror-copies", &copies);
    gst_structure_get_uint64 (stats, "map-snapshots", &snapshots);
    /* An element without the shared map has no such field: null. */
    have_shared = gst_structure_get_boolean (stats, "shared-map", &shared);
    g_print ("{\"bench\": \"qemucost\", \"peer\": \"%s\", \"width\": %d, "
        "\"height\": %d, \"update\": \"%dx%d\", \"frames\": %d, "
        "\"frames_out\": %" G_GUINT64_FORMAT ", \"mirror_copies\": %"
        G_GUINT64_FORMAT ", \"map_snapshots\": %" G_GUINT64_FORMAT ", "
        "\"shared_map\": %s, \"peer_used_map\": %s, "
        "\"cpu_ms_per_frame\": %.3f, \"streaming_ms_per_frame\": %.3f}\n",
        qemu10 ? "qemu10" : "qemu72", width, height, uw, uh, frames, pushed,
        copies, snapshots, have_shared ? (shared ? "true" : "false") : "null",
        osvdi_fake_qemu_uses_map (f) ? "true" : "false",
        (cpu1 - cpu0) / 1e6 / frames, (src1 - src0) / 1e6 / frames);
    gst_structure_free (stats);
    gst_object_unref (src);
  }

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  osvdi_fake_qemu_free (f);
  g_free (screens[0]);
  g_free (screens[1]);
  g_free (desc);
  g_free (peer);
  return 0;
}
