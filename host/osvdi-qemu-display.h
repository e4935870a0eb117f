/* OSVDI - a client of QEMU's D-Bus display (vfiodmabufsrc's QEMU provider)
 * SPDX-License-Identifier: Apache-2.0
 *
 * On a compute host QEMU owns the VM's mdev, so only QEMU can read its
 * display. QEMU's `-display dbus` (libvirt: <graphics type='dbus'
 * p2p='yes'/>, virDomainOpenGraphicsFD) hands the console's scanouts to one
 * peer and takes keyboard and mouse back. This is that peer: a D-Bus client
 * of org.qemu.Display1 on its own thread and GMainContext, with a listener
 * (org.qemu.Display1.Listener) that mirrors the console.
 *
 * Plain GLib/GIO, no GStreamer: the element copies frames out and turns
 * cursor callbacks into events.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OsvdiQemuDisplay OsvdiQemuDisplay;

typedef struct
{
  /* Called on the display's thread. @bgra: width * height pixels, B G R A
   * in memory (QEMU's cursor format on little-endian hosts). */
  void (*cursor_define) (gpointer user_data, guint width, guint height,
      gint hot_x, gint hot_y, GBytes * bgra);
  void (*cursor_move) (gpointer user_data, gint x, gint y, gboolean visible);
} OsvdiQemuDisplayCallbacks;

/* Starts connecting to QEMU's display over @fd (a p2p D-Bus connection, as
 * virDomainOpenGraphicsFD or QMP add_client @dbus-display give it; the
 * display takes its own duplicate) and registering the listener for
 * console @console, on the display's own thread: returns at once. Fails
 * here only when @fd is no socket. A peer that does not finish the D-Bus
 * handshake and answer for the console within @timeout_s seconds (> 0)
 * fails the display: next_frame() returns OSVDI_QEMU_FRAME_FAILED and
 * osvdi_qemu_display_closed_reason() says why, naming @fd. free() cancels
 * a connection still being made. */
OsvdiQemuDisplay *osvdi_qemu_display_new (gint fd, guint console,
    guint timeout_s, const OsvdiQemuDisplayCallbacks * callbacks,
    gpointer user_data, GError ** error);
void osvdi_qemu_display_free (OsvdiQemuDisplay * display);

typedef enum
{
  OSVDI_QEMU_FRAME_OK,          /* @frame filled */
  OSVDI_QEMU_FRAME_TIMEOUT,     /* nothing new before the deadline */
  OSVDI_QEMU_FRAME_FLUSHING,    /* osvdi_qemu_display_set_flushing (TRUE) */
  OSVDI_QEMU_FRAME_CLOSED,      /* QEMU went away (VM shut down, killed) */
  OSVDI_QEMU_FRAME_FAILED,      /* the connection was never made */
} OsvdiQemuFrameResult;

/* A 2D frame's pixels: the console's mirror, or QEMU's own memory where
 * QEMU shares it (Listener.Unix.Map), read-only and shared. Release
 * with osvdi_qemu_pixels_unref(), from any thread, also after the display
 * is freed. */
typedef struct _OsvdiQemuPixels OsvdiQemuPixels;
void osvdi_qemu_pixels_unref (gpointer pixels);

typedef struct
{
  guint width, height, stride;
  guint32 fourcc;               /* DRM fourcc: XR24 / AR24 for memory */
  guint64 modifier;
  gboolean dmabuf;              /* a GL scanout: @dmabuf_fd, no pixels */
  gint dmabuf_fd;               /* the caller's own duplicate (close it);
                                 * -1 if dup() failed */
  gboolean y0_top;
  guint64 scanout_serial;       /* changes with each new scanout */
  gpointer token;               /* dmabuf frames: pass to _frame_done() */
  OsvdiQemuPixels *pixels;      /* 2D frames: a reference, the caller's */
  const guint8 *data;           /* 2D frames: @stride * @height bytes */
} OsvdiQemuFrame;

/* Waits until the console has changed since the last frame (or @force),
 * @deadline_us (monotonic) passes, flushing is set, the connection fails
 * or QEMU goes away. A memory scanout's frame carries a reference to the
 * mirror or to QEMU's shared map (@pixels, @data), not a copy; on the map
 * (which QEMU writes without waiting for us) a copy only while downstream
 * still holds the previous frame (stats: map_snapshots). */
OsvdiQemuFrameResult osvdi_qemu_display_next_frame (OsvdiQemuDisplay *
    display, gint64 deadline_us, gboolean force, OsvdiQemuFrame * frame);

/* How often an update found the mirror still held downstream and copied
 * it (the 2D path's only copy besides QEMU's message). */
typedef struct
{
  guint64 mirror_copies;        /* QEMU's inline updates: the mirror was
                                 * copied because a frame still held it */
  guint64 map_snapshots;        /* QEMU's shared map: frames copied out
                                 * because downstream still held the last */
  guint64 map_held_writes;      /* QEMU drew into a map frame still held */
  gboolean shared_map;          /* the 2D console is QEMU's shared memory */
} OsvdiQemuDisplayStats;

void osvdi_qemu_display_get_stats (OsvdiQemuDisplay * display,
    OsvdiQemuDisplayStats * stats);

/* Whether QEMU has shown a scanout yet (a frame can come). */
gboolean osvdi_qemu_display_has_scanout (OsvdiQemuDisplay * display);

/* A dmabuf frame has left the source's hands: QEMU may draw again (the
 * pending UpdateDMABUF replies are sent). Any thread. */
void osvdi_qemu_display_frame_done (OsvdiQemuDisplay * display,
    gpointer token);

/* A keyframe was asked for: wakes a waiting next_frame(), which returns
 * the console even unchanged. Any thread. */
void osvdi_qemu_display_want_frame (OsvdiQemuDisplay * display);

void osvdi_qemu_display_set_flushing (OsvdiQemuDisplay * display,
    gboolean flushing);

/* Why the connection ended or was never made (valid once a wait returned
 * CLOSED or FAILED). */
const gchar *osvdi_qemu_display_closed_reason (OsvdiQemuDisplay * display);

/* Input into the VM, from any thread (queued to the display's thread). */
void osvdi_qemu_display_key (OsvdiQemuDisplay * display, guint qnum,
    gboolean pressed);
/* @x, @y in console pixels: absolute when the guest's pointer is
 * (IsAbsolute), else sent as the motion from the last position. @dx/@dy:
 * a relative client's raw motion, used when the guest is relative. */
void osvdi_qemu_display_mouse_move (OsvdiQemuDisplay * display, gint x,
    gint y, gboolean have_delta, gint dx, gint dy);
/* QEMU's buttons: 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down. */
void osvdi_qemu_display_mouse_button (OsvdiQemuDisplay * display,
    guint button, gboolean pressed);

G_END_DECLS
