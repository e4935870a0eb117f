/* OSVDI host - mediated devices in sysfs
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-mdev.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK (osvdi-mdev-error-quark, osvdi_mdev_error);

static gchar *
read_attr (const gchar * dir, const gchar * name)
{
  gchar *path = g_build_filename (dir, name, NULL);
  gchar *text = NULL;

  if (g_file_get_contents (path, &text, NULL, NULL))
    g_strstrip (text);
  g_free (path);
  return text;
}

/* The last path element of a symlink's target, e.g. the group number. */
static gchar *
link_basename (const gchar * dir, const gchar * name)
{
  gchar *path = g_build_filename (dir, name, NULL);
  gchar *target = g_file_read_link (path, NULL);
  gchar *base = target ? g_path_get_basename (target) : NULL;

  g_free (target);
  g_free (path);
  return base;
}

static gint
compare_by_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (**(gchar * const *const *) a,
      **(gchar * const *const *) b);
}

gboolean
osvdi_uuid_is_valid (const gchar * uuid)
{
  guint i;

  if (!uuid || strlen (uuid) != 36)
    return FALSE;
  for (i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (uuid[i] != '-')
        return FALSE;
    } else if (!g_ascii_isxdigit (uuid[i])) {
      return FALSE;
    }
  }
  return TRUE;
}

GPtrArray *
osvdi_mdev_list_parents (const gchar * sysfs, GError ** error)
{
  gchar *bus = g_build_filename (sysfs, "class", "mdev_bus", NULL);
  GPtrArray *parents = g_ptr_array_new_with_free_func ((GDestroyNotify)
      osvdi_mdev_parent_free);
  GDir *dir = g_dir_open (bus, 0, NULL);
  const gchar *name;

  /* No mdev_bus at all: no parent on this host, not an error. */
  while (dir && (name = g_dir_read_name (dir))) {
    OsvdiMdevParent *p = g_new0 (OsvdiMdevParent, 1);
    gchar *types_dir = g_build_filename (bus, name, "mdev_supported_types",
        NULL);
    GDir *tdir = g_dir_open (types_dir, 0, NULL);
    const gchar *tname;

    p->name = g_strdup (name);
    p->types = g_ptr_array_new_with_free_func ((GDestroyNotify)
        osvdi_mdev_type_free);
    while (tdir && (tname = g_dir_read_name (tdir))) {
      gchar *tpath = g_build_filename (types_dir, tname, NULL);
      OsvdiMdevType *t = g_new0 (OsvdiMdevType, 1);
      gchar *avail = read_attr (tpath, "available_instances");

      t->id = g_strdup (tname);
      t->name = read_attr (tpath, "name");
      t->description = read_attr (tpath, "description");
      t->device_api = read_attr (tpath, "device_api");
      t->available_instances = avail ? atoi (avail) : -1;
      g_ptr_array_add (p->types, t);
      g_free (avail);
      g_free (tpath);
    }
    if (tdir)
      g_dir_close (tdir);
    g_ptr_array_sort (p->types, compare_by_name);
    g_free (types_dir);
    g_ptr_array_add (parents, p);
  }
  if (dir)
    g_dir_close (dir);
  g_ptr_array_sort (parents, compare_by_name);
  g_free (bus);
  (void) error;
  return parents;
}

static gchar *
device_dir (const gchar * sysfs, const gchar * uuid)
{
  return g_build_filename (sysfs, "bus", "mdev", "devices", uuid, NULL);
}

OsvdiMdev *
osvdi_mdev_lookup (const gchar * sysfs, const gchar * uuid, GError ** error)
{
  gchar *dir, *group, *lower;
  char *real;
  OsvdiMdev *m;

  if (!osvdi_uuid_is_valid (uuid)) {
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_INVALID,
        "\"%s\" is not a UUID", uuid ? uuid : "(null)");
    return NULL;
  }
  lower = g_ascii_strdown (uuid, -1);
  dir = device_dir (sysfs, lower);
  g_free (lower);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NOT_FOUND,
        "no mediated device %s (no %s)", uuid, dir);
    g_free (dir);
    return NULL;
  }
  m = g_new0 (OsvdiMdev, 1);
  m->uuid = g_ascii_strdown (uuid, -1);
  m->type_id = link_basename (dir, "mdev_type");
  /* The device lives in its parent's directory. */
  real = realpath (dir, NULL);
  if (real) {
    gchar *parent_dir = g_path_get_dirname (real);

    m->parent = g_path_get_basename (parent_dir);
    g_free (parent_dir);
    free (real);
  }
  group = link_basename (dir, "iommu_group");
  m->iommu_group = group ? atoi (group) : -1;
  g_free (group);
  g_free (dir);
  return m;
}

GPtrArray *
osvdi_mdev_list (const gchar * sysfs, GError ** error)
{
  gchar *path = g_build_filename (sysfs, "bus", "mdev", "devices", NULL);
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify)
      osvdi_mdev_free);
  GDir *dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir && (name = g_dir_read_name (dir))) {
    OsvdiMdev *m = osvdi_mdev_lookup (sysfs, name, NULL);

    if (m)
      g_ptr_array_add (list, m);
  }
  if (dir)
    g_dir_close (dir);
  g_ptr_array_sort (list, compare_by_name);
  g_free (path);
  (void) error;
  return list;
}

gchar *
osvdi_mdev_group_device (const OsvdiMdev * mdev, GError ** error)
{
  if (mdev->iommu_group < 0) {
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NO_GROUP,
        "mediated device %s has no IOMMU group (is vfio_mdev loaded?)",
        mdev->uuid);
    return NULL;
  }
  return g_strdup_printf ("/dev/vfio/%d", mdev->iommu_group);
}

static gboolean
write_attr (const gchar * path, const gchar * value, const gchar * what,
    GError ** error)
{
  /* sysfs attributes take one write(); g_file_set_contents would rename. */
  FILE *f = fopen (path, "w");
  gboolean ok = f != NULL && fputs (value, f) >= 0;
  int err = errno;

  if (f && fclose (f) != 0 && ok) {
    ok = FALSE;
    err = errno;
  }
  if (!ok)
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_FAILED,
        "%s: writing %s: %s", what, path, g_strerror (err));
  return ok;
}

gboolean
osvdi_mdev_create (const gchar * sysfs, const gchar * parent,
    const gchar * type_id, const gchar * uuid, GError ** error)
{
  gchar *create;
  gboolean ok;

  if (!osvdi_uuid_is_valid (uuid)) {
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_INVALID,
        "\"%s\" is not a UUID", uuid ? uuid : "(null)");
    return FALSE;
  }
  create = g_build_filename (sysfs, "class", "mdev_bus", parent,
      "mdev_supported_types", type_id, "create", NULL);
  if (!g_file_test (create, G_FILE_TEST_EXISTS)) {
    g_set_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NOT_FOUND,
        "no mdev type %s on parent %s (no %s)", type_id, parent, create);
    g_free (create);
    return FALSE;
  }
  ok = write_attr (create, uuid, "creating a mediated device", error);
  g_free (create);
  return ok;
}

gboolean
osvdi_mdev_remove (const gchar * sysfs, const gchar * uuid, GError ** error)
{
  g_autoptr (OsvdiMdev) m = osvdi_mdev_lookup (sysfs, uuid, error);
  gchar *dir, *remove;
  gboolean ok;

  if (!m)
    return FALSE;
  dir = device_dir (sysfs, m->uuid);
  remove = g_build_filename (dir, "remove", NULL);
  ok = write_attr (remove, "1", "removing a mediated device", error);
  g_free (remove);
  g_free (dir);
  return ok;
}

void
osvdi_mdev_type_free (OsvdiMdevType * t)
{
  if (!t)
    return;
  g_free (t->id);
  g_free (t->name);
  g_free (t->description);
  g_free (t->device_api);
  g_free (t);
}

void
osvdi_mdev_parent_free (OsvdiMdevParent * p)
{
  if (!p)
    return;
  g_free (p->name);
  g_ptr_array_unref (p->types);
  g_free (p);
}

void
osvdi_mdev_free (OsvdiMdev * m)
{
  if (!m)
    return;
  g_free (m->uuid);
  g_free (m->parent);
  g_free (m->type_id);
  g_free (m);
}
