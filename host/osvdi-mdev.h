/* OSVDI host - mediated devices in sysfs
 * SPDX-License-Identifier: Apache-2.0
 *
 * Plain C, no GStreamer. Every function takes the sysfs root ("/sys" on a
 * host, a fixture tree in tests).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *id;                    /* e.g. "i915-GVTg_V5_4", "mbochs-small" */
  gchar *name;                  /* "name" attribute, may be NULL */
  gchar *description;
  gchar *device_api;            /* "vfio-pci" */
  gint available_instances;     /* -1 if unreadable */
} OsvdiMdevType;

typedef struct
{
  gchar *name;                  /* parent device, e.g. "0000:00:02.0" */
  GPtrArray *types;             /* OsvdiMdevType */
} OsvdiMdevParent;

typedef struct
{
  gchar *uuid;
  gchar *parent;                /* NULL if the link is unreadable */
  gchar *type_id;
  gint iommu_group;             /* -1 if none */
} OsvdiMdev;

#define OSVDI_MDEV_ERROR (osvdi_mdev_error_quark ())
GQuark osvdi_mdev_error_quark (void);

typedef enum
{
  OSVDI_MDEV_ERROR_NOT_FOUND,   /* no such parent, type or mdev */
  OSVDI_MDEV_ERROR_NO_GROUP,    /* the mdev has no IOMMU group */
  OSVDI_MDEV_ERROR_INVALID,     /* a malformed UUID */
  OSVDI_MDEV_ERROR_FAILED,      /* the kernel refused (errno in the text) */
} OsvdiMdevError;

/* Parents with their supported types, sorted by name. */
GPtrArray *osvdi_mdev_list_parents (const gchar * sysfs, GError ** error);

/* Existing mdevs, sorted by UUID. */
GPtrArray *osvdi_mdev_list (const gchar * sysfs, GError ** error);

OsvdiMdev *osvdi_mdev_lookup (const gchar * sysfs, const gchar * uuid,
    GError ** error);

/* /dev/vfio/<group> of @mdev; an error when it has no group. */
gchar *osvdi_mdev_group_device (const OsvdiMdev * mdev, GError ** error);

gboolean osvdi_mdev_create (const gchar * sysfs, const gchar * parent,
    const gchar * type_id, const gchar * uuid, GError ** error);
gboolean osvdi_mdev_remove (const gchar * sysfs, const gchar * uuid,
    GError ** error);

gboolean osvdi_uuid_is_valid (const gchar * uuid);

void osvdi_mdev_type_free (OsvdiMdevType * type);
void osvdi_mdev_parent_free (OsvdiMdevParent * parent);
void osvdi_mdev_free (OsvdiMdev * mdev);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OsvdiMdev, osvdi_mdev_free);

G_END_DECLS
