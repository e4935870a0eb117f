/* OSVDI host - QEMU's D-Bus display of a libvirt domain
 * SPDX-License-Identifier: Apache-2.0
 *
 * Plain C, no GStreamer. libvirt gives the display out peer to peer
 * (virDomainOpenGraphicsFD) for `<graphics type='dbus' p2p='yes'/>`; the
 * launcher and vfiodmabufsrc's `domain` property both come through here.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

#define OSVDI_LIBVIRT_ERROR (osvdi_libvirt_error_quark ())
GQuark osvdi_libvirt_error_quark (void);

typedef enum
{
  OSVDI_LIBVIRT_ERROR_CONNECT,  /* no libvirt at that URI */
  OSVDI_LIBVIRT_ERROR_NOT_FOUND,        /* no such domain */
  OSVDI_LIBVIRT_ERROR_NOT_RUNNING,      /* the domain is not running */
  OSVDI_LIBVIRT_ERROR_NO_DISPLAY,       /* no <graphics type='dbus' p2p='yes'> */
  OSVDI_LIBVIRT_ERROR_FAILED,   /* libvirt's message in the text */
} OsvdiLibvirtError;

/* Index of the domain's peer-to-peer D-Bus display among its <graphics>
 * devices (the index virDomainOpenGraphicsFD takes), -1 if it has none or
 * the XML does not parse. */
gint osvdi_libvirt_dbus_display_index (const gchar * domain_xml);

/* A new connection to @dom's D-Bus display: an fd the caller owns. */
gint osvdi_libvirt_open_dbus_display (virDomainPtr dom, GError ** error);

/* The same for the domain named @domain (name or UUID) at @uri (NULL:
 * libvirt's default URI). */
gint osvdi_libvirt_open_dbus_display_by_name (const gchar * uri,
    const gchar * domain, GError ** error);

G_END_DECLS
