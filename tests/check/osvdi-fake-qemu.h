/* OSVDI tests - a stand-in for QEMU's D-Bus display (peer to peer)
 * SPDX-License-Identifier: Apache-2.0
 *
 * It serves console 0 (Label, Width, Height, RegisterListener) on its own
 * thread and, once the element registers its listener, calls that listener
 * as QEMU does: ScanoutDMABUF with a real dmabuf (GL mode: the micro-VM
 * test, mbochs' dmabuf; the element tests, a memfd), or Scanout with pixels
 * inline (2D mode: the benchmark, the element tests); it refuses keyboard
 * input. It sits beside the real-QEMU tests, never instead of them: a GL
 * QEMU needs a render node, and a real QEMU cannot send frames on cue.
 *
 * By default it is QEMU 7.2. In QEMU 10 mode (osvdi_fake_qemu_new_full
 * with OSVDI_FAKE_QEMU_10) it reads the listener's Interfaces property
 * after RegisterListener, as QEMU >= 9.2 does; when the listener announces
 * org.qemu.Display1.Listener.Unix.Map, the console lives in a memfd shown
 * once with ScanoutMap (synchronous, the fd passed along) and each draw is
 * written into it and announced with an UpdateMap that nobody waits for.
 * Without the announcement it falls back to 7.2's Scanout and Update.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OsvdiFakeQemu OsvdiFakeQemu;

/* @dmabuf >= 0: GL mode, the scanout is that dmabuf (XR24, @stride; the
 * peer does not close it). Else 2D mode: the scanout is @pixels (XR24,
 * @stride bytes per row, copied). *@element_fd: the element's end of the
 * display connection, for qemu-display-fd (the caller closes it). */
OsvdiFakeQemu *osvdi_fake_qemu_new (guint width, guint height, guint stride,
    gint dmabuf, const guint8 * pixels, gint * element_fd);
/* The same, the GL scanout with DRM format modifier @modifier (0: linear). */
OsvdiFakeQemu *osvdi_fake_qemu_new_modifier (guint width, guint height,
    guint stride, gint dmabuf, guint64 modifier, const guint8 * pixels,
    gint * element_fd);

typedef enum
{
  /* QEMU 10's 2D path: Unix.Map when the listener announces it. */
  OSVDI_FAKE_QEMU_10 = 1 << 0,
  /* Register the listener but show nothing (a test sends the first
   * scanout itself, or calls that come before any). */
  OSVDI_FAKE_QEMU_NO_SCANOUT = 1 << 1,
} OsvdiFakeQemuFlags;

/* 2D mode (@pixels: XR24, @stride bytes per row, copied), with @flags. */
OsvdiFakeQemu *osvdi_fake_qemu_new_full (guint width, guint height,
    guint stride, const guint8 * pixels, OsvdiFakeQemuFlags flags,
    gint * element_fd);

/* TRUE once the listener connection is up (and, in QEMU 10 mode, its
 * Interfaces were read); the scanout may still be to come. */
gboolean osvdi_fake_qemu_wait_listener (OsvdiFakeQemu * f, guint ms);

/* QEMU 10 mode: whether the console is shown through the shared map (the
 * listener announced Unix.Map and took a ScanoutMap). */
gboolean osvdi_fake_qemu_uses_map (OsvdiFakeQemu * f);

/* The guest draws the rectangle (@pixels: XR24, @stride bytes per row).
 * Shared map: written into the memfd, then an UpdateMap sent and not
 * waited for, as QEMU 10 does. Else one Update inline, answered before it
 * returns (as osvdi_fake_qemu_update). FALSE without a listener or when
 * the Update was not answered. */
gboolean osvdi_fake_qemu_draw (OsvdiFakeQemu * f, gint x, gint y, gint w,
    gint h, guint stride, const guint8 * pixels);

/* QEMU 10 mode: a new console surface (a resize): a new memfd with
 * @offset bytes before the first row, @pixels copied in, a synchronous
 * ScanoutMap of it and an UpdateMap of it all. FALSE if the listener did
 * not announce Unix.Map or did not answer. */
gboolean osvdi_fake_qemu_resize (OsvdiFakeQemu * f, guint width,
    guint height, guint stride, guint offset, const guint8 * pixels);

/* An UpdateMap of the rectangle, nothing written, not waited for. */
void osvdi_fake_qemu_update_map (OsvdiFakeQemu * f, gint x, gint y, gint w,
    gint h);

/* ScanoutMap calls QEMU would never make (the peer's memfd stays). */
typedef enum
{
  OSVDI_FAKE_MAP_SHORT_FD,      /* memfd smaller than offset + stride * h */
  OSVDI_FAKE_MAP_OFFSET_OVERFLOW,       /* offset + stride * h past 2^32 */
  OSVDI_FAKE_MAP_SHORT_STRIDE,  /* stride < width * 4 */
  OSVDI_FAKE_MAP_BAD_FORMAT,    /* a pixman format nobody knows */
  OSVDI_FAKE_MAP_ZERO_SIZE,     /* width 0 */
  OSVDI_FAKE_MAP_NO_FD,         /* handle 0, no fd in the message */
  OSVDI_FAKE_MAP_BAD_HANDLE,    /* handle 3 of a list of one */
  OSVDI_FAKE_MAP_PIPE,          /* an fd that cannot be mapped */
} OsvdiFakeMapAbuse;

/* One such call, synchronous; TRUE when it was answered (a reply or a
 * D-Bus error: the element is alive). */
gboolean osvdi_fake_qemu_scanout_map_abuse (OsvdiFakeQemu * f,
    OsvdiFakeMapAbuse abuse);

/* TRUE once the listener took the scanout. */
gboolean osvdi_fake_qemu_wait_scanout (OsvdiFakeQemu * f, guint ms);

/* GL: UpdateDMABUF of the whole scanout, asynchronously; then whether
 * the element has answered it within @ms. */
void osvdi_fake_qemu_update_dmabuf (OsvdiFakeQemu * f);
gboolean osvdi_fake_qemu_wait_update_replied (OsvdiFakeQemu * f, guint ms);

/* 2D: one Update of the rectangle (pixels inline, as QEMU 7.2 sends them),
 * answered before it returns. */
gboolean osvdi_fake_qemu_update (OsvdiFakeQemu * f, gint x, gint y, gint w,
    gint h, guint stride, const guint8 * pixels);

/* GL: a new scanout (ScanoutDMABUF of @dmabuf, XR24, which the peer does
 * not close), answered before it returns. */
gboolean osvdi_fake_qemu_scanout_dmabuf (OsvdiFakeQemu * f, gint dmabuf,
    guint width, guint height, guint stride);

/* Calls QEMU would never make: a Scanout in an unknown pixel format, a
 * ScanoutDMABUF without its fd; TRUE when both were answered. */
gboolean osvdi_fake_qemu_send_malformed (OsvdiFakeQemu * f);

/* The stand-in refuses all keyboard input (a D-Bus error, as QEMU refuses
 * a mouse call in the wrong mode); TRUE once @n calls came within @ms. */
gboolean osvdi_fake_qemu_wait_inputs (OsvdiFakeQemu * f, guint n, guint ms);

void osvdi_fake_qemu_free (OsvdiFakeQemu * f);

G_END_DECLS
