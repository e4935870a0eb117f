/* OSVDI launcher - where clients and portals find a session: .vv files and
 * the domain's metadata
 * SPDX-License-Identifier: Apache-2.0
 */
#include "publish.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>

static gchar *
vv_path (const OsvdiLauncherConfig * cfg, const gchar * uuid)
{
  gchar *name = g_strdup_printf ("%s.vv", uuid);
  gchar *path = g_build_filename (cfg->state_dir, name, NULL);

  g_free (name);
  return path;
}

void
osvdi_publish_vv (const OsvdiLauncherConfig * cfg, const OsvdiPublication * p)
{
  const OsvdiDomainInfo *info = p->info;
  GString *vv = g_string_new ("[virt-viewer]\ntype=spice\n");
  gchar *path = vv_path (cfg, info->uuid);
  GError *error = NULL;

  g_string_append_printf (vv, "host=%s\n", cfg->public_host);
  if (p->port)
    g_string_append_printf (vv, "port=%d\n", p->port);
  if (p->tls_port) {
    gchar *ca_path = g_build_filename (cfg->x509_dir, "ca-cert.pem", NULL);
    gchar *ca = NULL;

    g_string_append_printf (vv, "tls-port=%d\n", p->tls_port);
    if (g_file_get_contents (ca_path, &ca, NULL, NULL)) {
      gchar *escaped = g_strescape (ca, NULL);

      g_string_append_printf (vv, "ca=%s\n", escaped);
      g_free (escaped);
    }
    g_free (ca);
    g_free (ca_path);
  }
  /* console=proxy: no ticket; the file still tells the operator where the
   * session listens. */
  if (p->ticket)
    g_string_append_printf (vv, "password=%s\n", p->ticket);
  g_string_append_printf (vv, "title=%s\ndelete-this-file=0\n",
      info->instance_name ? info->instance_name : info->name);
  if (!g_file_set_contents_full (path, vv->str, vv->len,
          G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error)) {
    LOG_ERROR ("%s: cannot write %s: %s", info->uuid, path, error->message);
    g_clear_error (&error);
  }
  memset (vv->str, 0, vv->len);
  g_string_free (vv, TRUE);
  g_free (path);
}

void
osvdi_publish_vv_remove (const OsvdiLauncherConfig * cfg, const gchar * uuid)
{
  gchar *path = vv_path (cfg, uuid);

  if (g_unlink (path) < 0 && errno != ENOENT)
    LOG_WARN ("%s: cannot remove %s: %s", uuid, path, g_strerror (errno));
  g_free (path);
}

void
osvdi_publish_vv_remove_all (const OsvdiLauncherConfig * cfg)
{
  GDir *dir = g_dir_open (cfg->state_dir, 0, NULL);
  const gchar *name;

  while (dir && (name = g_dir_read_name (dir)))
    if (g_str_has_suffix (name, ".vv")) {
      gchar *p = g_build_filename (cfg->state_dir, name, NULL);

      g_unlink (p);
      g_free (p);
    }
  if (dir)
    g_dir_close (dir);
}

gchar *
osvdi_publish_metadata_xml (const OsvdiLauncherConfig * cfg,
    const OsvdiPublication * p)
{
  GString *x = g_string_new ("<spice");

  g_string_append_printf (x, " console='%s' host='%s' address='%s'",
      osvdi_console_mode_name (cfg->console), cfg->public_host, cfg->address);
  if (p->port)
    g_string_append_printf (x, " port='%d'", p->port);
  if (p->tls_port)
    g_string_append_printf (x, " tls-port='%d'", p->tls_port);
  if (p->ticket_expiry) {
    GDateTime *dt = g_date_time_new_from_unix_utc (p->ticket_expiry);
    gchar *iso = g_date_time_format_iso8601 (dt);

    g_string_append_printf (x, " ticket-expiry='%s'", iso);
    g_free (iso);
    g_date_time_unref (dt);
  }
  g_string_append (x, "/>");
  return g_string_free (x, FALSE);
}

typedef struct
{
  gchar *uuid;
  gchar *xml;                   /* NULL: withdraw */
} MetadataJob;

static void
metadata_job_free (gpointer data)
{
  MetadataJob *mj = data;

  g_free (mj->uuid);
  g_free (mj->xml);
  g_free (mj);
}

static void
metadata_job_run (virConnectPtr conn, gpointer data)
{
  MetadataJob *mj = data;
  virDomainPtr dom;

  if (!conn)
    return;
  dom = virDomainLookupByUUIDString (conn, mj->uuid);
  if (!dom)
    return;
  if (virDomainSetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, mj->xml,
          mj->xml ? OSVDI_METADATA_PREFIX : NULL, OSVDI_METADATA_NS,
          VIR_DOMAIN_AFFECT_LIVE) < 0)
    LOG_WARN ("%s: cannot %s the connection details in the domain's "
        "metadata: %s", mj->uuid, mj->xml ? "publish" : "withdraw",
        virGetLastErrorMessage ());
  virDomainFree (dom);
}

void
osvdi_publish_metadata (OsvdiLibvirtConn * lc, const gchar * uuid,
    const gchar * xml)
{
  MetadataJob *mj = g_new0 (MetadataJob, 1);

  mj->uuid = g_strdup (uuid);
  mj->xml = g_strdup (xml);
  osvdi_libvirt_conn_submit (lc, metadata_job_run, NULL, mj,
      metadata_job_free);
}
