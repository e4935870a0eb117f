/* OSVDI - client (absolute) mouse mode without a real QXL device
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <spice.h>

G_BEGIN_DECLS

/* spice-server 0.14/0.15 allows client mouse mode only after a QXL primary
 * surface asked for it, and decides it when that surface is created: with a
 * tablet registered, exactly one QXL instance and one display channel must
 * exist at that moment. The decision is not revisited when the QXL instance
 * goes away. So a transient QXL instance creates a tiny primary surface and
 * is removed again before the stream device opens: the stream stays the only
 * display, and clients get client mouse mode (absolute positions through the
 * tablet).
 *
 * Call on the server thread, after the tablet is added and
 * spice_server_vm_start(), before the stream port is OPENED and before any
 * client can connect. Anything that re-runs spice-server's mouse-mode update
 * afterwards (adding or removing a tablet or a vdagent,
 * spice_server_set_agent_mouse) falls back to server mode. */
void osvdi_spice_enable_client_mouse (SpiceServer * server);

G_END_DECLS
