/* OSVDI - spice-server's event-loop interface on a GLib main context
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <spice.h>

G_BEGIN_DECLS

/* Receives spice-server's channel events; called on the thread that runs the
 * core's main context. */
typedef void (*OsvdiSpiceChannelEventFunc) (gpointer user_data, int event,
    const SpiceChannelEventInfo * info);

/* spice-server's SpiceCoreInterface callbacks carry no instance pointer, so
 * timers and watches attach to the thread-default main context of the thread
 * that calls them, and channel events go to the receiver bound to that
 * thread. Both are set by osvdi_spice_core_bind_thread() on the one thread
 * that makes every call into spice-server. */
SpiceCoreInterface *osvdi_spice_core_get (void);

void osvdi_spice_core_bind_thread (OsvdiSpiceChannelEventFunc func,
    gpointer user_data);

void osvdi_spice_core_unbind_thread (void);

G_END_DECLS
