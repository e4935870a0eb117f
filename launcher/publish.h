/* OSVDI launcher - where clients and portals find a session: .vv files and
 * the domain's metadata
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "domain.h"
#include "launcherconfig.h"
#include "libvirtconn.h"

G_BEGIN_DECLS

#define OSVDI_METADATA_NS "https://opendev.org/osvdi/xmlns/libvirt/1.0"
#define OSVDI_METADATA_PREFIX "osvdi"

typedef struct
{
  const OsvdiDomainInfo *info;
  gint port, tls_port;          /* 0: none */
  const gchar *ticket;          /* NULL: none (console=proxy) */
  gint64 ticket_expiry;         /* unix time, 0: none */
} OsvdiPublication;

/* <state-dir>/<uuid>.vv, 0600 from the start (the ticket is in it). */
void osvdi_publish_vv (const OsvdiLauncherConfig * cfg,
    const OsvdiPublication * p);
void osvdi_publish_vv_remove (const OsvdiLauncherConfig * cfg,
    const gchar * uuid);
/* The .vv files of an earlier run are stale: reconcile writes them anew. */
void osvdi_publish_vv_remove_all (const OsvdiLauncherConfig * cfg);

/* <osvdi:spice console= host= address= port= tls-port= ticket-expiry=/>
 * (never the ticket). console='proxy': the session has no ticket and a
 * console proxy (Nova's) connects to address=; console='direct': clients
 * need the ticket of the .vv file. */
gchar *osvdi_publish_metadata_xml (const OsvdiLauncherConfig * cfg,
    const OsvdiPublication * p);
/* Sets (or with @xml NULL removes) the live metadata, as a libvirt job;
 * failures are logged. */
void osvdi_publish_metadata (OsvdiLibvirtConn * lc, const gchar * uuid,
    const gchar * xml);

G_END_DECLS
