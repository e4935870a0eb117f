/* OSVDI - QEMU's listener calls, for the fuzz target only
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the display does with each org.qemu.Display1.Listener call, without
 * the bus: tests/fuzz/fuzz-qemu-display.c calls these directly, as
 * listener_method() does on the display thread. Not for the element.
 */
#pragma once

#include "osvdi-qemu-display.h"

G_BEGIN_DECLS

/* A display with no connection and no thread (free() it as usual): the
 * handlers below run on the caller's thread, as on the display's. */
OsvdiQemuDisplay *osvdi_qemu_display_new_unconnected (guint console,
    const OsvdiQemuDisplayCallbacks * callbacks, gpointer user_data);

/* @params as QEMU sends them (the method's signature). */
void osvdi_qemu_display_on_scanout (OsvdiQemuDisplay * d, GVariant * params);
/* TRUE when the update lies outside the console (a resize QEMU 7.2 sends
 * no Scanout for): the caller registers the listener again. */
gboolean osvdi_qemu_display_on_update (OsvdiQemuDisplay * d,
    GVariant * params);
/* @fd: the call's dmabuf (taken), -1 when it carried none. */
void osvdi_qemu_display_on_scanout_dmabuf (OsvdiQemuDisplay * d,
    GVariant * params, gint fd);
/* @fd: the call's memfd (always closed); NULL when the map was taken, else
 * why not (QEMU gets it as the error). */
const gchar *osvdi_qemu_display_on_scanout_map (OsvdiQemuDisplay * d,
    GVariant * params, gint fd);
void osvdi_qemu_display_on_update_map (OsvdiQemuDisplay * d,
    GVariant * params);
void osvdi_qemu_display_on_cursor_define (OsvdiQemuDisplay * d,
    GVariant * params);
void osvdi_qemu_display_on_disable (OsvdiQemuDisplay * d);

G_END_DECLS
