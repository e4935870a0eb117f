/* OSVDI - small network helpers shared by spicesink and the launcher
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when binding a TCP socket to @address:@port fails with EADDRINUSE
 * (someone listens there). FALSE for port <= 0 or an unresolvable address:
 * whoever binds for real reports those. */
gboolean osvdi_tcp_port_in_use (const gchar * address, gint port);

G_END_DECLS
