/* OSVDI launcher - what a libvirt domain's XML says about its desktop
 * SPDX-License-Identifier: Apache-2.0
 */
#include "domain.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#define NOVA_NS "http://openstack.org/xmlns/libvirt/nova/1.1"

static gchar *
xpath_string (xmlXPathContextPtr ctx, const gchar * expr)
{
  xmlXPathObjectPtr obj = xmlXPathEvalExpression (BAD_CAST expr, ctx);
  gchar *result = NULL;

  if (obj && obj->type == XPATH_STRING && obj->stringval
      && obj->stringval[0])
    result = g_strdup ((const gchar *) obj->stringval);
  xmlXPathFreeObject (obj);
  return result;
}

OsvdiDomainInfo *
osvdi_domain_info_parse (const gchar * xml, GError ** error)
{
  xmlDocPtr doc;
  xmlXPathContextPtr ctx;
  OsvdiDomainInfo *info;

  doc = xmlReadMemory (xml, strlen (xml), "domain.xml", NULL,
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc || !xmlDocGetRootElement (doc)
      || !xmlStrEqual (xmlDocGetRootElement (doc)->name, BAD_CAST "domain")) {
    g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
        "not a libvirt domain XML document");
    xmlFreeDoc (doc);
    return NULL;
  }
  ctx = xmlXPathNewContext (doc);
  xmlXPathRegisterNs (ctx, BAD_CAST "nova", BAD_CAST NOVA_NS);

  info = g_new0 (OsvdiDomainInfo, 1);
  info->uuid = xpath_string (ctx, "string(/domain/uuid)");
  info->name = xpath_string (ctx, "string(/domain/name)");
  /* A mediated device with a display: the desktop we serve. */
  info->mdev_uuid = xpath_string (ctx, "string(/domain/devices/hostdev"
      "[@mode='subsystem'][@type='mdev'][@display='on']"
      "/source/address/@uuid)");
  /* QEMU's D-Bus display, handed out peer to peer by OpenGraphicsFD. */
  {
    xmlXPathObjectPtr obj = xmlXPathEvalExpression (BAD_CAST
        "boolean(/domain/devices/graphics[@type='dbus'][@p2p='yes'])", ctx);

    info->dbus_display = obj && obj->type == XPATH_BOOLEAN && obj->boolval;
    xmlXPathFreeObject (obj);
  }
  info->instance_name = xpath_string (ctx,
      "string(/domain/metadata/nova:instance/nova:name)");
  info->flavor = xpath_string (ctx,
      "string(/domain/metadata/nova:instance/nova:flavor/@name)");
  info->owner_user = xpath_string (ctx,
      "string(/domain/metadata/nova:instance/nova:owner/nova:user/@uuid)");
  info->owner_project = xpath_string (ctx,
      "string(/domain/metadata/nova:instance/nova:owner/nova:project/@uuid)");

  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);

  if (!info->uuid || !info->name) {
    g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_MISSING_ATTRIBUTE,
        "domain XML without a name or UUID");
    osvdi_domain_info_free (info);
    return NULL;
  }
  return info;
}

void
osvdi_domain_info_free (OsvdiDomainInfo * info)
{
  if (!info)
    return;
  g_free (info->uuid);
  g_free (info->name);
  g_free (info->mdev_uuid);
  g_free (info->instance_name);
  g_free (info->flavor);
  g_free (info->owner_user);
  g_free (info->owner_project);
  g_free (info);
}
