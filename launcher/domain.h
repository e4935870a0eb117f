/* OSVDI launcher - what a libvirt domain's XML says about its desktop
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *uuid;                  /* domain UUID (= Nova instance UUID) */
  gchar *name;                  /* libvirt domain name */
  gchar *mdev_uuid;             /* first mdev hostdev with display='on' */
  gboolean dbus_display;        /* <graphics type='dbus' p2p='yes'/> */
  /* Nova's metadata, NULL when absent */
  gchar *instance_name;
  gchar *flavor;
  gchar *owner_user;            /* uuid */
  gchar *owner_project;         /* uuid */
} OsvdiDomainInfo;

/* Parses a domain's live XML. Returns NULL with @error set when the XML is
 * not a domain. A domain without an mdev display has mdev_uuid NULL. */
OsvdiDomainInfo *osvdi_domain_info_parse (const gchar * xml, GError ** error);
void osvdi_domain_info_free (OsvdiDomainInfo * info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OsvdiDomainInfo, osvdi_domain_info_free);

G_END_DECLS
