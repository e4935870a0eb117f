/* OSVDI launcher - which flavor file a VM gets, and its pipeline
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "domain.h"
#include "launcherconfig.h"

G_BEGIN_DECLS

/* flavors.d/<Nova flavor>.conf, or default.conf when the VM has no usable
 * flavor name or its flavor has no file (logged). */
gchar *osvdi_flavor_file_for (const gchar * flavors_dir,
    const OsvdiDomainInfo * info);

/* What @tmpl reads from the VM that the VM does not have (static text), or
 * NULL. */
const gchar *osvdi_flavor_missing (const gchar * tmpl,
    const OsvdiDomainInfo * info);

/* TRUE when the pipeline takes QEMU's D-Bus display as fd 5. */
/* TRUE when the template uses ${@name} (e.g. "SPICE_PORT"). */
gboolean osvdi_flavor_uses (const gchar * tmpl, const gchar * name);
gboolean osvdi_flavor_wants_display_fd (const gchar * tmpl);

/* The pipeline for one session: @tmpl with every variable set. */
gchar *osvdi_flavor_expand (const gchar * tmpl,
    const OsvdiLauncherConfig * cfg, const OsvdiDomainInfo * info,
    gint port, gint tls_port, GError ** error);

G_END_DECLS
