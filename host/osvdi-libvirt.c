/* OSVDI host - QEMU's D-Bus display of a libvirt domain
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-libvirt.h"

#include <stdlib.h>
#include <string.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

G_DEFINE_QUARK (osvdi-libvirt-error-quark, osvdi_libvirt_error);

gint
osvdi_libvirt_dbus_display_index (const gchar * domain_xml)
{
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
  xmlXPathObjectPtr obj;
  gint index = -1;

  if (!domain_xml)
    return -1;
  doc = xmlReadMemory (domain_xml, strlen (domain_xml), "domain.xml", NULL,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc)
    return -1;
  ctx = xmlXPathNewContext (doc);
  /* libvirt numbers a domain's <graphics> in document order. */
  obj = xmlXPathEvalExpression (BAD_CAST
      "/domain/devices/graphics[@type='dbus'][@p2p='yes'][1]", ctx);
  if (obj && obj->type == XPATH_NODESET && obj->nodesetval
      && obj->nodesetval->nodeNr > 0) {
    xmlXPathObjectPtr count = xmlXPathEvalExpression (BAD_CAST
        "count(/domain/devices/graphics[@type='dbus'][@p2p='yes'][1]"
        "/preceding-sibling::graphics)", ctx);

    if (count && count->type == XPATH_NUMBER)
      index = (gint) count->floatval;
    xmlXPathFreeObject (count);
  }
  xmlXPathFreeObject (obj);
  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);
  return index;
}

gint
osvdi_libvirt_open_dbus_display (virDomainPtr dom, GError ** error)
{
  const gchar *name = virDomainGetName (dom);
  gchar *xml;
  gint index, fd, active;

  active = virDomainIsActive (dom);
  if (active == 0) {
    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_NOT_RUNNING,
        "Domain '%s' is not running", name);
    return -1;
  }
  xml = virDomainGetXMLDesc (dom, 0);
  if (!xml) {
    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_FAILED,
        "Could not read domain '%s': %s", name, virGetLastErrorMessage ());
    return -1;
  }
  index = osvdi_libvirt_dbus_display_index (xml);
  free (xml);
  if (index < 0) {
    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_NO_DISPLAY,
        "Domain '%s' has no D-Bus display: its XML needs "
        "<graphics type='dbus' p2p='yes'/>", name);
    return -1;
  }
  fd = virDomainOpenGraphicsFD (dom, index, 0);
  if (fd < 0) {
    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_FAILED,
        "No display connection to domain '%s' from libvirt: %s", name,
        virGetLastErrorMessage ());
    return -1;
  }
  return fd;
}

gint
osvdi_libvirt_open_dbus_display_by_name (const gchar * uri,
    const gchar * domain, GError ** error)
{
  virConnectPtr conn;
  virDomainPtr dom = NULL;
  gint fd = -1;

  conn = virConnectOpen (uri);
  if (!conn) {
    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_CONNECT,
        "Cannot connect to libvirt at %s: %s",
        uri ? uri : "its default URI", virGetLastErrorMessage ());
    return -1;
  }
  if (g_uuid_string_is_valid (domain))
    dom = virDomainLookupByUUIDString (conn, domain);
  if (!dom)
    dom = virDomainLookupByName (conn, domain);
  if (!dom) {
    gchar *where = virConnectGetURI (conn);

    g_set_error (error, OSVDI_LIBVIRT_ERROR, OSVDI_LIBVIRT_ERROR_NOT_FOUND,
        "No domain '%s' at %s", domain, where ? where : uri);
    free (where);
    virConnectClose (conn);
    return -1;
  }
  fd = osvdi_libvirt_open_dbus_display (dom, error);
  virDomainFree (dom);
  virConnectClose (conn);
  return fd;
}
