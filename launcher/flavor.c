/* OSVDI launcher - which flavor file a VM gets, and its pipeline
 * SPDX-License-Identifier: Apache-2.0
 */
#include "flavor.h"
#include "log.h"

#include <string.h>

static gboolean
flavor_name_ok (const gchar * name)
{
  return name && *name && name[0] != '.' && !strchr (name, '/');
}

gchar *
osvdi_flavor_file_for (const gchar * flavors_dir,
    const OsvdiDomainInfo * info)
{
  if (flavor_name_ok (info->flavor)) {
    gchar *name = g_strdup_printf ("%s.conf", info->flavor);
    gchar *path = g_build_filename (flavors_dir, name, NULL);

    g_free (name);
    if (g_file_test (path, G_FILE_TEST_EXISTS))
      return path;
    LOG_INFO ("%s: flavor \"%s\" has no %s; using default.conf", info->uuid,
        info->flavor, path);
    g_free (path);
  } else {
    LOG_INFO ("%s: no usable Nova flavor name; using default.conf",
        info->uuid);
  }
  return g_build_filename (flavors_dir, "default.conf", NULL);
}

const gchar *
osvdi_flavor_missing (const gchar * tmpl, const OsvdiDomainInfo * info)
{
  if (strstr (tmpl, "${MDEV_UUID}") && !info->mdev_uuid)
    return "${MDEV_UUID}, but the VM has no mediated device with "
        "display='on'";
  if (strstr (tmpl, "${QEMU_DISPLAY_FD}") && !info->dbus_display)
    return "${QEMU_DISPLAY_FD}, but the VM has no D-Bus display "
        "(<graphics type='dbus' p2p='yes'/>)";
  return NULL;
}

gboolean
osvdi_flavor_uses (const gchar * tmpl, const gchar * name)
{
  gchar *var = g_strdup_printf ("${%s}", name);
  gboolean uses = strstr (tmpl, var) != NULL;

  g_free (var);
  return uses;
}

gboolean
osvdi_flavor_wants_display_fd (const gchar * tmpl)
{
  return strstr (tmpl, "${QEMU_DISPLAY_FD}") != NULL;
}

gchar *
osvdi_flavor_expand (const gchar * tmpl, const OsvdiLauncherConfig * cfg,
    const OsvdiDomainInfo * info, gint port, gint tls_port, GError ** error)
{
  g_autoptr (GHashTable) vars = g_hash_table_new (g_str_hash, g_str_equal);
  gchar port_s[16], tls_s[16], life_s[16];

  g_snprintf (port_s, sizeof (port_s), "%d", port);
  g_snprintf (tls_s, sizeof (tls_s), "%d", tls_port);
  g_snprintf (life_s, sizeof (life_s), "%u", cfg->ticket_lifetime);
  g_hash_table_insert (vars, "MDEV_UUID", info->mdev_uuid ?
      info->mdev_uuid : "");
  /* The runner finds QEMU's display connection there (supervisor.c). */
  g_hash_table_insert (vars, "QEMU_DISPLAY_FD", "5");
  g_hash_table_insert (vars, "DOMAIN_UUID", info->uuid);
  g_hash_table_insert (vars, "DOMAIN_NAME", info->name);
  g_hash_table_insert (vars, "INSTANCE_NAME", info->instance_name ?
      info->instance_name : info->name);
  g_hash_table_insert (vars, "FLAVOR", info->flavor ? info->flavor :
      "default");
  g_hash_table_insert (vars, "OWNER_USER", info->owner_user ?
      info->owner_user : "");
  g_hash_table_insert (vars, "OWNER_PROJECT", info->owner_project ?
      info->owner_project : "");
  g_hash_table_insert (vars, "SPICE_ADDRESS", cfg->address);
  g_hash_table_insert (vars, "SPICE_PORT", port_s);
  g_hash_table_insert (vars, "SPICE_TLS_PORT", tls_s);
  g_hash_table_insert (vars, "SPICE_X509_DIR", cfg->x509_dir ?
      cfg->x509_dir : "");
  g_hash_table_insert (vars, "TICKET_LIFETIME", life_s);
  return osvdi_template_expand (tmpl, vars, error);
}
