/* OSVDI tests - a stand-in for QEMU 7.2's D-Bus display (peer to peer)
 * SPDX-License-Identifier: Apache-2.0
 *
 * It serves console 0 (Label, Width, Height, RegisterListener) on its own
 * thread and, once the element registers its listener, calls that listener
 * as QEMU does: ScanoutDMABUF with a real dmabuf (GL mode: the micro-VM
 * test, mbochs' dmabuf; the element tests, a memfd), or Scanout with pixels
 * inline (2D mode: the benchmark, the element tests); it refuses keyboard
 * input. It sits beside the real-QEMU tests, never instead of them: a GL
 * QEMU needs a render node, and a real QEMU cannot send frames on cue.
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
