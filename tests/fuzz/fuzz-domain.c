/* OSVDI fuzz target: a libvirt domain's XML (launcher/domain.c) and the
 * flavor choice it drives (launcher/flavor.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * The live XML: mdev hostdevs, the D-Bus graphics, Nova's metadata (the
 * instance and flavor names are a user's choice). Checked: a parsed domain
 * has a name and UUID and no empty field; parse -> serialise -> parse
 * gives the same fields; the flavor file chosen for it is always inside
 * flavors.d (a flavor name cannot walk out of it); the session's pipeline
 * expands, or is refused for a value that is not a plain token.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "domain.h"
#include "flavor.h"

#define FLAVORS_DIR "/nonexistent/osvdi-fuzz/flavors.d"

/* Text and attribute values that read back the same (XML normalises raw
 * tabs and newlines in attributes, and CR everywhere). */
static void
append_escaped (GString * out, const gchar * s)
{
  for (; *s; s++) {
    switch (*s) {
      case '&': g_string_append (out, "&amp;"); break;
      case '<': g_string_append (out, "&lt;"); break;
      case '>': g_string_append (out, "&gt;"); break;
      case '\'': g_string_append (out, "&apos;"); break;
      case '"': g_string_append (out, "&quot;"); break;
      case '\t': g_string_append (out, "&#9;"); break;
      case '\n': g_string_append (out, "&#10;"); break;
      case '\r': g_string_append (out, "&#13;"); break;
      default: g_string_append_c (out, *s);
    }
  }
}

static void
element (GString * out, const gchar * fmt_open, const gchar * value,
    const gchar * close)
{
  if (!value)
    return;
  g_string_append (out, fmt_open);
  append_escaped (out, value);
  g_string_append (out, close);
}

static gchar *
serialise (const OsvdiDomainInfo * info)
{
  GString *out = g_string_new ("<domain type='kvm'>");

  element (out, "<name>", info->name, "</name>");
  element (out, "<uuid>", info->uuid, "</uuid>");
  g_string_append (out, "<metadata><nova:instance xmlns:nova="
      "'http://openstack.org/xmlns/libvirt/nova/1.1'>");
  element (out, "<nova:name>", info->instance_name, "</nova:name>");
  element (out, "<nova:flavor name='", info->flavor, "'/>");
  g_string_append (out, "<nova:owner>");
  element (out, "<nova:user uuid='", info->owner_user, "'/>");
  element (out, "<nova:project uuid='", info->owner_project, "'/>");
  g_string_append (out, "</nova:owner></nova:instance></metadata><devices>");
  element (out, "<hostdev mode='subsystem' type='mdev' display='on'>"
      "<source><address uuid='", info->mdev_uuid, "'/></source></hostdev>");
  if (info->dbus_display)
    g_string_append (out, "<graphics type='dbus' p2p='yes'/>");
  g_string_append (out, "</devices></domain>");
  return g_string_free (out, FALSE);
}

static void
check_field (const gchar * a, const gchar * b)
{
  FUZZ_CHECK (!a || *a);
  FUZZ_CHECK (g_strcmp0 (a, b) == 0);
}

static void
quiet (const gchar * line)
{
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* flavor.c logs each choice: not 10^6 lines. */
  g_set_printerr_handler (quiet);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  gchar *xml = fuzz_string (data, size), *again, *path, *dir, *base, *line;
  GError *error = NULL;
  OsvdiDomainInfo *info, *info2;
  OsvdiLauncherConfig cfg = {.address = (gchar *) "127.0.0.1" };

  info = osvdi_domain_info_parse (xml, &error);
  g_free (xml);
  if (!info) {
    FUZZ_CHECK (error != NULL);
    g_error_free (error);
    return 0;
  }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (info->uuid && *info->uuid && info->name && *info->name);

  again = serialise (info);
  info2 = osvdi_domain_info_parse (again, &error);
  FUZZ_CHECK (info2 && !error);
  check_field (info->uuid, info2->uuid);
  check_field (info->name, info2->name);
  check_field (info->mdev_uuid, info2->mdev_uuid);
  check_field (info->instance_name, info2->instance_name);
  check_field (info->flavor, info2->flavor);
  check_field (info->owner_user, info2->owner_user);
  check_field (info->owner_project, info2->owner_project);
  FUZZ_CHECK (info->dbus_display == info2->dbus_display);
  osvdi_domain_info_free (info2);
  g_free (again);

  path = osvdi_flavor_file_for (FLAVORS_DIR, info);
  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  FUZZ_CHECK (g_str_equal (dir, FLAVORS_DIR));
  FUZZ_CHECK (g_str_has_suffix (base, ".conf") && base[0] != '.');
  g_free (dir);
  g_free (base);
  g_free (path);

  line = osvdi_flavor_expand ("x ${MDEV_UUID} ${DOMAIN_UUID} ${DOMAIN_NAME} "
      "${INSTANCE_NAME} ${FLAVOR} ${OWNER_USER} ${OWNER_PROJECT} y", &cfg,
      info, 5900, 0, &error);
  FUZZ_CHECK (!line == !!error);
  if (line)
    FUZZ_CHECK (g_str_has_prefix (line, "x ") && g_str_has_suffix (line,
            " y") && !strchr (line, '!'));
  g_clear_error (&error);
  g_free (line);
  osvdi_domain_info_free (info);
  return 0;
}
