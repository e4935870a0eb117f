/* OSVDI - vfiodmabufsrc's QEMU provider: QEMU's D-Bus display
 * SPDX-License-Identifier: Apache-2.0
 *
 * The production path: QEMU owns the VM's mdev, so its display comes
 * through QEMU's `-display dbus` (qemu-display-fd=, or domain= asking
 * libvirt for the connection). The D-Bus client itself is plain GIO
 * (host/osvdi-qemu-display.c); this turns its frames into frame
 * descriptions, its cursor into upstream-visible cursor events, and
 * GstNavigation events into the VM's keyboard and mouse. Frames come when
 * the console changed (or a keyframe was asked for).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "vfiodmabufsrc-provider.h"
#include "osvdi-qemu-display.h"
#include "osvdicursor.h"
#include "qemuinput.h"
#ifdef HAVE_LIBVIRT
#include "osvdi-libvirt.h"
#endif

#include <errno.h>
#include <unistd.h>
#include <gst/video/navigation.h>

#define GST_CAT_DEFAULT gst_vfio_dmabuf_src_debug

typedef struct
{
  VfioSrcProvider parent;

  /* Made in open, freed in stop; the display's own lock guards its state.
   * Lock order: the element's provider lock, then the display's lock;
   * cursor_lock is taken alone. */
  OsvdiQemuDisplay *display;
  VfioSrcOnDisconnect on_disconnect;
  guint timeout_s;
  gint64 last_frame_us;         /* when next_frame last made one */
  gint force_frame;             /* atomic: frames still owed to a keyframe
                                 * request (FORCED_FRAMES), 0 when none */

  /* Streaming thread. */
  guint64 last_serial;          /* the scanout of the last frame */
  gint scanout_fd;              /* our duplicate of a scanout's dmabuf */
  guint64 fd_serial;            /* ... of this scanout */

  /* The guest's cursor (the display's thread): cursor_lock. */
  GMutex cursor_lock;
  GstEvent *cursor_shape;       /* last cursor-set, for showing it again */
  gint cursor_hot_x, cursor_hot_y;
  gboolean cursor_hidden;
} QemuProvider;

static void
qemu_cursor_define (gpointer user_data, guint width, guint height,
    gint hot_x, gint hot_y, GBytes * bgra)
{
  QemuProvider *self = user_data;
  GstBuffer *pixels = gst_buffer_new_wrapped_bytes (bgra);
  GstEvent *event = osvdi_cursor_event_new_set (width, height,
      MAX (hot_x, 0), MAX (hot_y, 0), pixels);
  gboolean hidden;

  gst_buffer_unref (pixels);
  g_mutex_lock (&self->cursor_lock);
  gst_event_replace (&self->cursor_shape, event);
  self->cursor_hot_x = MAX (hot_x, 0);
  self->cursor_hot_y = MAX (hot_y, 0);
  hidden = self->cursor_hidden;
  g_mutex_unlock (&self->cursor_lock);
  /* Out-of-band: any thread may push it, and it passes the encoder at once.
   * A hidden cursor's new shape waits until it shows again. */
  if (!hidden)
    gst_pad_push_event (GST_BASE_SRC_PAD (self->parent.src), event);
  else
    gst_event_unref (event);
}

/* QEMU's MouseSet gives the cursor image's top-left corner; a SPICE cursor
 * position is its hot spot (QEMU's own SPICE display adds it too). A cursor
 * the guest turned off becomes a transparent one: the SPICE stream device
 * has no "hide". */
static void
qemu_cursor_move (gpointer user_data, gint x, gint y, gboolean visible)
{
  QemuProvider *self = user_data;
  GstPad *pad = GST_BASE_SRC_PAD (self->parent.src);
  GstEvent *show = NULL;
  gboolean hide = FALSE;

  g_mutex_lock (&self->cursor_lock);
  if (!visible && !self->cursor_hidden)
    hide = TRUE;
  else if (visible && self->cursor_hidden && self->cursor_shape)
    show = gst_event_ref (self->cursor_shape);
  self->cursor_hidden = !visible;
  x += self->cursor_hot_x;
  y += self->cursor_hot_y;
  g_mutex_unlock (&self->cursor_lock);

  if (hide) {
    guint8 clear[4] = { 0, 0, 0, 0 };
    GstBuffer *pixels = gst_buffer_new_memdup (clear, sizeof clear);

    gst_pad_push_event (pad, osvdi_cursor_event_new_set (1, 1, 0, 0, pixels));
    gst_buffer_unref (pixels);
    return;
  }
  if (show)
    gst_pad_push_event (pad, show);
  if (visible)
    gst_pad_push_event (pad, osvdi_cursor_event_new_move (x, y));
}

static void
qemu_provider_stop (VfioSrcProvider * provider)
{
  QemuProvider *self = (QemuProvider *) provider;

  OsvdiQemuDisplayStats st;

  osvdi_qemu_display_get_stats (self->display, &st);
  GST_INFO_OBJECT (provider->src, "QEMU display: the mirror was copied %"
      G_GUINT64_FORMAT " times (updates while a frame was held); %"
      G_GUINT64_FORMAT " frames copied out of QEMU's shared map, %"
      G_GUINT64_FORMAT " draws into a map frame still held", st.mirror_copies,
      st.map_snapshots, st.map_held_writes);
  /* Joins the display's thread: no callback runs after this. */
  osvdi_qemu_display_free (self->display);
  if (self->scanout_fd >= 0)
    close (self->scanout_fd);
  gst_clear_event (&self->cursor_shape);
  g_mutex_clear (&self->cursor_lock);
  g_free (self);
}

/* A dmabuf frame's buffer is gone: QEMU may draw again. */
typedef struct
{
  OsvdiQemuDisplay *display;
  gpointer token;
} FrameDone;

static void
qemu_frame_done (gpointer data)
{
  FrameDone *done = data;

  osvdi_qemu_display_frame_done (done->display, done->token);
  g_free (done);
}

/* A keyframe request on a still screen makes a frame of the picture (one:
 * a player that needs more on a still screen gets them from
 * still-interval). */
#define FORCED_FRAMES 1

static VfioSrcFrameResult
qemu_provider_next_frame (VfioSrcProvider * provider, VfioSrcFrame * frame)
{
  QemuProvider *self = (QemuProvider *) provider;
  OsvdiQemuFrameResult res;
  OsvdiQemuFrame f;
  gboolean force;

  if (!osvdi_qemu_display_has_scanout (self->display))
    vfio_src_waiting_for_display (provider->src);

  force = g_atomic_int_get (&self->force_frame) > 0;
  /* still-interval: a still screen's picture again. */
  if (!force && provider->still_interval_ms && self->last_frame_us
      && g_get_monotonic_time () - self->last_frame_us >=
      (gint64) provider->still_interval_ms * G_TIME_SPAN_MILLISECOND)
    force = TRUE;
  /* Nothing new within 200 ms is UNCHANGED: the element asks again with a
   * fresh tick. A keyframe request (want_frame) and unlock() wake the wait
   * at once. */
  res = osvdi_qemu_display_next_frame (self->display,
      g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND, force, &f);
  /* A frame made: one fewer owed (a request meanwhile owes them again). */
  if (force && res == OSVDI_QEMU_FRAME_OK
      && g_atomic_int_get (&self->force_frame) > 0)
    g_atomic_int_add (&self->force_frame, -1);
  if (res == OSVDI_QEMU_FRAME_OK)
    self->last_frame_us = g_get_monotonic_time ();

  switch (res) {
    case OSVDI_QEMU_FRAME_OK:
      break;
    case OSVDI_QEMU_FRAME_FLUSHING:
      return VFIO_SRC_FRAME_FLUSHING;
    case OSVDI_QEMU_FRAME_TIMEOUT:
      return VFIO_SRC_FRAME_UNCHANGED;
    case OSVDI_QEMU_FRAME_FAILED:
      GST_ELEMENT_ERROR (provider->src, RESOURCE, OPEN_READ_WRITE, ("%s",
              osvdi_qemu_display_closed_reason (self->display)),
          ("connect-timeout is %u s", self->timeout_s));
      return VFIO_SRC_FRAME_ERROR;
    case OSVDI_QEMU_FRAME_CLOSED:
      if (self->on_disconnect == VFIO_SRC_ON_DISCONNECT_ERROR) {
        GST_ELEMENT_ERROR (provider->src, RESOURCE, READ,
            ("The VM's display went away."), ("%s",
                osvdi_qemu_display_closed_reason (self->display)));
        return VFIO_SRC_FRAME_ERROR;
      }
      GST_INFO_OBJECT (provider->src, "end of stream: %s",
          osvdi_qemu_display_closed_reason (self->display));
      return VFIO_SRC_FRAME_EOS;
  }

  /* The first frame of a scanout answers the old scanout's pending updates
   * at once; later ones when their buffer is freed. */
  if (f.dmabuf && f.scanout_serial != self->last_serial) {
    osvdi_qemu_display_frame_done (self->display, f.token);
    f.token = NULL;
  }
  self->last_serial = f.scanout_serial;

  frame->format.dmabuf = f.dmabuf;
  frame->format.fourcc = f.fourcc;
  frame->format.modifier = f.modifier;
  frame->format.width = f.width;
  frame->format.height = f.height;
  frame->format.stride = f.stride;
  frame->y0_top = f.y0_top;
  if (f.dmabuf) {
    if (f.dmabuf_fd < 0) {
      osvdi_qemu_display_frame_done (self->display, f.token);
      goto dup_failed;
    }
    /* The display duplicated the scanout's fd under its lock (it may close
     * its own any time); one duplicate per scanout is kept here, for the
     * element until the next frame. */
    if (self->scanout_fd >= 0 && f.scanout_serial == self->fd_serial) {
      close (f.dmabuf_fd);
    } else {
      if (self->scanout_fd >= 0)
        close (self->scanout_fd);
      self->scanout_fd = f.dmabuf_fd;
      self->fd_serial = f.scanout_serial;
    }
    frame->fd = self->scanout_fd;
    frame->key = f.scanout_serial;
    frame->size = (gsize) f.stride * f.height;
    GST_LOG_OBJECT (provider->src, "dmabuf frame %ux%u, %s", f.width,
        f.height, f.token ? "answers QEMU's updates when released" :
        "no update");
    if (f.token) {
      FrameDone *done = g_new (FrameDone, 1);

      done->display = self->display;
      done->token = f.token;
      frame->done = qemu_frame_done;
      frame->done_data = done;
    }
  } else {
    gsize size = (gsize) f.stride * f.height;

    /* The mirror itself (or QEMU's shared map), read-only: QEMU's next
     * change copies it only if this frame is still held then (a writer
     * downstream gets its own copy from GStreamer). */
    frame->memory = gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY,
        (gpointer) f.data, size, 0, size, f.pixels, osvdi_qemu_pixels_unref);
  }
  return VFIO_SRC_FRAME_OK;

  /* ERRORS */
dup_failed:
  {
    GST_ELEMENT_ERROR (provider->src, RESOURCE, READ,
        ("Could not take QEMU's scanout dmabuf."),
        ("dup() of the scanout's fd failed: %s", g_strerror (errno)));
    return VFIO_SRC_FRAME_ERROR;
  }
}

static void
qemu_provider_unlock (VfioSrcProvider * provider)
{
  osvdi_qemu_display_set_flushing (((QemuProvider *) provider)->display,
      TRUE);
}

static void
qemu_provider_unlock_stop (VfioSrcProvider * provider)
{
  osvdi_qemu_display_set_flushing (((QemuProvider *) provider)->display,
      FALSE);
}

static void
qemu_provider_want_keyframe (VfioSrcProvider * provider)
{
  QemuProvider *self = (QemuProvider *) provider;

  g_atomic_int_set (&self->force_frame, FORCED_FRAMES);
  osvdi_qemu_display_want_frame (self->display);
}

static void
qemu_provider_copy_stats (VfioSrcProvider * provider, VfioSrcCopyStats * out)
{
  OsvdiQemuDisplayStats st;

  osvdi_qemu_display_get_stats (((QemuProvider *) provider)->display, &st);
  out->mirror_copies = st.mirror_copies;
  out->map_snapshots = st.map_snapshots;
  out->map_held_writes = st.map_held_writes;
  out->shared_map = st.shared_map;
}

/* GstNavigation input into the VM (the mapping: qemuinput.c). */
static gboolean
qemu_provider_input (VfioSrcProvider * provider, GstEvent * event)
{
  QemuProvider *self = (QemuProvider *) provider;
  QemuInput in;

  if (!qemu_input_from_navigation (event, &in))
    return FALSE;
  switch (in.kind) {
    case QEMU_INPUT_KEY:
      if (in.code)
        osvdi_qemu_display_key (self->display, in.code, in.pressed);
      else
        GST_DEBUG_OBJECT (provider->src, "no PC scancode for key %s",
            in.key ? in.key : "(none)");
      break;
    case QEMU_INPUT_MOVE:
      osvdi_qemu_display_mouse_move (self->display, in.x, in.y,
          in.have_delta, in.dx, in.dy);
      break;
    case QEMU_INPUT_BUTTON:
      osvdi_qemu_display_mouse_button (self->display, in.code, in.pressed);
      break;
    case QEMU_INPUT_WHEEL:
      osvdi_qemu_display_mouse_button (self->display, in.code, TRUE);
      osvdi_qemu_display_mouse_button (self->display, in.code, FALSE);
      break;
  }
  return TRUE;
}


static const VfioSrcProviderClass qemu_provider_class = {
  .name = "QEMU",
  .damage_driven = TRUE,
  /* A scanout's serial never comes back: keep the current one only. */
  .max_wrappers = 1,
  .stop = qemu_provider_stop,
  .next_frame = qemu_provider_next_frame,
  .unlock = qemu_provider_unlock,
  .unlock_stop = qemu_provider_unlock_stop,
  .input = qemu_provider_input,
  .want_keyframe = qemu_provider_want_keyframe,
  .copy_stats = qemu_provider_copy_stats,
};

static VfioSrcProvider *
qemu_provider_open_fd (GstBaseSrc * src, gint fd, guint timeout_s,
    VfioSrcOnDisconnect on_disconnect)
{
  static const OsvdiQemuDisplayCallbacks callbacks = {
    .cursor_define = qemu_cursor_define,
    .cursor_move = qemu_cursor_move,
  };
  QemuProvider *self = g_new0 (QemuProvider, 1);
  GError *error = NULL;

  self->parent.klass = &qemu_provider_class;
  self->parent.src = src;
  self->on_disconnect = on_disconnect;
  self->timeout_s = timeout_s;
  self->scanout_fd = -1;
  g_mutex_init (&self->cursor_lock);
  /* The first frame comes even before the console changes. */
  self->force_frame = 1;
  /* Connects on the display's thread: the state change does not wait for
   * a peer that may never answer (it could not be interrupted); next_frame
   * waits, interruptibly, and reports a failure. */
  self->display = osvdi_qemu_display_new (fd, 0, timeout_s, &callbacks, self,
      &error);
  if (!self->display) {
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ_WRITE,
        ("Could not connect to QEMU's display."), ("%s", error->message));
    g_clear_error (&error);
    g_mutex_clear (&self->cursor_lock);
    g_free (self);
    return NULL;
  }
  GST_INFO_OBJECT (src, "QEMU display on fd %d", fd);
  return &self->parent;
}

VfioSrcProvider *
vfio_src_qemu_provider_open (GstBaseSrc * src, gint fd, const gchar * uri,
    const gchar * domain, guint timeout_s, VfioSrcOnDisconnect on_disconnect)
{
  if (fd >= 0)
    return qemu_provider_open_fd (src, fd, timeout_s, on_disconnect);
#ifdef HAVE_LIBVIRT
  {
    /* Asked of libvirt at each start (a connection serves one start: QEMU
     * gives the display to its newest client). */
    VfioSrcProvider *provider;
    GError *error = NULL;

    fd = osvdi_libvirt_open_dbus_display_by_name (uri, domain, &error);
    if (fd < 0) {
      vfio_src_post_open_error (src, error);
      g_clear_error (&error);
      return NULL;
    }
    GST_INFO_OBJECT (src, "domain %s: display connection from libvirt",
        domain);
    provider = qemu_provider_open_fd (src, fd, timeout_s, on_disconnect);
    close (fd);
    return provider;
  }
#else
  GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS,
      ("\"domain\" needs libvirt, and this build has none."),
      ("rebuild with libvirt and libxml2 development files, or hand the "
          "connection over with \"qemu-display-fd\""));
  return NULL;
#endif
}
