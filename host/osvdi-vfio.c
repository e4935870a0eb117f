/* OSVDI host - a VFIO mdev's display: open, query planes, export dmabufs
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-vfio.h"
#include "osvdi-mdev.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

/* DRM_PLANE_TYPE_PRIMARY and _CURSOR, from the kernel's drm_plane.h (not in uapi). */
#define PLANE_TYPE_PRIMARY 1
#define PLANE_TYPE_CURSOR 2
/* Exported dmabufs kept open: the guest flips between a few buffers. */
#define DMABUF_CACHE 8

G_DEFINE_QUARK (osvdi-vfio-error-quark, osvdi_vfio_error);

typedef struct
{
  guint32 id;
  gint fd;
} CachedDmabuf;

typedef struct
{
  guint32 index;
  gpointer data;
  gsize size;
} MappedRegion;

struct _OsvdiVfioDevice
{
  gint container, group, device;
  gboolean adopted;
  gchar *name;
  CachedDmabuf dmabufs[DMABUF_CACHE];
  guint n_dmabufs;
  GArray *regions;              /* MappedRegion */
};

static OsvdiVfioDevice *
device_new (const gchar * name)
{
  OsvdiVfioDevice *dev = g_new0 (OsvdiVfioDevice, 1);

  dev->container = dev->group = dev->device = -1;
  dev->name = g_strdup (name);
  dev->regions = g_array_new (FALSE, FALSE, sizeof (MappedRegion));
  return dev;
}

OsvdiVfioDevice *
osvdi_vfio_open_mdev (const gchar * sysfs, const gchar * uuid,
    GError ** error)
{
  g_autoptr (OsvdiMdev) mdev = NULL;
  struct vfio_group_status status = {.argsz = sizeof (status) };
  OsvdiVfioDevice *dev;
  gchar *group_path;
  gint iommu, err;

  mdev = osvdi_mdev_lookup (sysfs, uuid, error);
  if (!mdev)
    return NULL;
  group_path = osvdi_mdev_group_device (mdev, error);
  if (!group_path)
    return NULL;
  dev = device_new (mdev->uuid);

  dev->container = open ("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (dev->container < 0)
    goto no_container;
  if (ioctl (dev->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
    goto bad_api;
  iommu = ioctl (dev->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0
      ? VFIO_TYPE1v2_IOMMU
      : ioctl (dev->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0
      ? VFIO_TYPE1_IOMMU : -1;
  if (iommu < 0)
    goto bad_api;

  dev->group = open (group_path, O_RDWR | O_CLOEXEC);
  if (dev->group < 0)
    goto no_group;
  if (ioctl (dev->group, VFIO_GROUP_GET_STATUS, &status) < 0)
    goto failed;
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
    goto not_viable;
  if (ioctl (dev->group, VFIO_GROUP_SET_CONTAINER, &dev->container) < 0
      || ioctl (dev->container, VFIO_SET_IOMMU, iommu) < 0)
    goto failed;
  dev->device = ioctl (dev->group, VFIO_GROUP_GET_DEVICE_FD, mdev->uuid);
  if (dev->device < 0)
    goto no_device;
  g_free (group_path);
  return dev;

  /* ERRORS */
no_container:
  err = errno;
  g_set_error (error, OSVDI_VFIO_ERROR, err == ENOENT ?
      OSVDI_VFIO_ERROR_NOT_FOUND : OSVDI_VFIO_ERROR_FAILED,
      "cannot open /dev/vfio/vfio: %s (is the vfio module loaded?)",
      g_strerror (err));
  goto out;
bad_api:
  g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
      "the kernel's VFIO has no supported API version or IOMMU type");
  goto out;
no_group:
  err = errno;
  g_set_error (error, OSVDI_VFIO_ERROR, err == EBUSY ?
      OSVDI_VFIO_ERROR_BUSY : err == ENOENT ? OSVDI_VFIO_ERROR_NOT_FOUND :
      OSVDI_VFIO_ERROR_FAILED, err == EBUSY ?
      "VFIO group %s of mdev %s is busy: owned by another process such as "
      "QEMU (%s)" : "cannot open VFIO group %s of mdev %s: %s", group_path,
      mdev->uuid, g_strerror (err));
  goto out;
not_viable:
  g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_NOT_VIABLE,
      "VFIO group %s of mdev %s is not viable: a device in it is not bound "
      "to a VFIO driver", group_path, mdev->uuid);
  goto out;
no_device:
  err = errno;
  g_set_error (error, OSVDI_VFIO_ERROR, err == EBUSY ?
      OSVDI_VFIO_ERROR_BUSY : OSVDI_VFIO_ERROR_FAILED,
      "cannot get the device fd of mdev %s: %s", mdev->uuid,
      g_strerror (err));
  goto out;
failed:
  err = errno;
  g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
      "setting up VFIO group %s of mdev %s: %s", group_path, mdev->uuid,
      g_strerror (err));
out:
  g_free (group_path);
  osvdi_vfio_close (dev);
  return NULL;
}

OsvdiVfioDevice *
osvdi_vfio_adopt_fd (gint fd, GError ** error)
{
  struct vfio_device_info info = {.argsz = sizeof (info) };
  OsvdiVfioDevice *dev;
  gchar *name;

  if (fd < 0 || ioctl (fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "fd %d is not a VFIO device: %s", fd, g_strerror (errno));
    return NULL;
  }
  name = g_strdup_printf ("device fd %d", fd);
  dev = device_new (name);
  g_free (name);
  dev->device = fd;
  dev->adopted = TRUE;
  return dev;
}

void
osvdi_vfio_close (OsvdiVfioDevice * dev)
{
  guint i;

  if (!dev)
    return;
  for (i = 0; i < dev->n_dmabufs; i++)
    close (dev->dmabufs[i].fd);
  for (i = 0; i < dev->regions->len; i++) {
    MappedRegion *r = &g_array_index (dev->regions, MappedRegion, i);

    munmap (r->data, r->size);
  }
  g_array_unref (dev->regions);
  if (dev->device >= 0 && !dev->adopted)
    close (dev->device);
  if (dev->group >= 0)
    close (dev->group);
  if (dev->container >= 0)
    close (dev->container);
  g_free (dev->name);
  g_free (dev);
}

gint
osvdi_vfio_device_fd (OsvdiVfioDevice * dev)
{
  return dev->device;
}

OsvdiPlaneKinds
osvdi_vfio_probe_planes (OsvdiVfioDevice * dev, GError ** error)
{
  OsvdiPlaneKinds kinds = 0;
  struct vfio_device_gfx_plane_info p = {.argsz = sizeof (p) };

  p.flags = VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_DMABUF;
  p.drm_plane_type = PLANE_TYPE_PRIMARY;
  if (ioctl (dev->device, VFIO_DEVICE_QUERY_GFX_PLANE, &p) == 0)
    kinds |= OSVDI_PLANE_DMABUF;
  memset (&p, 0, sizeof (p));
  p.argsz = sizeof (p);
  p.flags = VFIO_GFX_PLANE_TYPE_PROBE | VFIO_GFX_PLANE_TYPE_REGION;
  p.drm_plane_type = PLANE_TYPE_PRIMARY;
  if (ioctl (dev->device, VFIO_DEVICE_QUERY_GFX_PLANE, &p) == 0)
    kinds |= OSVDI_PLANE_REGION;
  if (!kinds)
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_NO_DISPLAY,
        "%s has no display support (VFIO_DEVICE_QUERY_GFX_PLANE offers "
        "neither dmabuf nor region planes)", dev->name);
  return kinds;
}

static gboolean
query_plane (OsvdiVfioDevice * dev, OsvdiPlaneKinds kind, guint32 plane_type,
    OsvdiPlane * plane, GError ** error)
{
  struct vfio_device_gfx_plane_info p;
  gint attempt, ret = -1;

  for (attempt = 0; attempt < 2; attempt++) {
    memset (&p, 0, sizeof (p));
    p.argsz = sizeof (p);
    p.flags = kind == OSVDI_PLANE_DMABUF ? VFIO_GFX_PLANE_TYPE_DMABUF :
        VFIO_GFX_PLANE_TYPE_REGION;
    p.drm_plane_type = plane_type;
    ret = ioctl (dev->device, VFIO_DEVICE_QUERY_GFX_PLANE, &p);
    /* mbochs answers ENOMEM once after every mode change. */
    if (ret == 0 || errno != ENOMEM)
      break;
  }
  if (ret < 0) {
    gint err = errno;

    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "querying the %s plane of %s: %s",
        plane_type == PLANE_TYPE_CURSOR ? "cursor" : "primary", dev->name,
        g_strerror (err));
    errno = err;
    return FALSE;
  }
  memset (plane, 0, sizeof (*plane));
  plane->drm_format = p.drm_format;
  plane->modifier = p.drm_format_mod;
  plane->width = p.width;
  plane->height = p.height;
  plane->stride = p.stride;
  plane->size = p.size;
  plane->x = p.x_pos;
  plane->y = p.y_pos;
  plane->hot_x = p.x_hot;
  plane->hot_y = p.y_hot;
  plane->kind = kind;
  plane->id = kind == OSVDI_PLANE_DMABUF ? p.dmabuf_id : p.region_index;
  return TRUE;
}

gboolean
osvdi_vfio_query_primary (OsvdiVfioDevice * dev, OsvdiPlaneKinds kind,
    OsvdiPlane * plane, GError ** error)
{
  return query_plane (dev, kind, PLANE_TYPE_PRIMARY, plane, error);
}

gboolean
osvdi_vfio_query_cursor (OsvdiVfioDevice * dev, OsvdiPlaneKinds kind,
    OsvdiPlane * plane, GError ** error)
{
  GError *local = NULL;

  memset (plane, 0, sizeof (*plane));
  /* Cursor planes are dmabufs (GVT-g); mdpy, the region sample, answers any
   * plane type with its primary, so a region "cursor" means nothing. */
  if (kind != OSVDI_PLANE_DMABUF)
    return TRUE;
  if (!query_plane (dev, kind, PLANE_TYPE_CURSOR, plane, &local)) {
    /* A driver that knows no cursor plane refuses the type. */
    if (errno == EINVAL) {
      g_clear_error (&local);
      memset (plane, 0, sizeof (*plane));
      return TRUE;
    }
    g_propagate_error (error, local);
    return FALSE;
  }
  if (plane->width > OSVDI_CURSOR_MAX || plane->height > OSVDI_CURSOR_MAX
      || !plane->drm_format)
    memset (plane, 0, sizeof (*plane));
  return TRUE;
}

gint
osvdi_vfio_dmabuf_fd (OsvdiVfioDevice * dev, guint32 id, GError ** error)
{
  guint i;
  gint fd;

  for (i = 0; i < dev->n_dmabufs; i++)
    if (dev->dmabufs[i].id == id)
      return dev->dmabufs[i].fd;

  fd = ioctl (dev->device, VFIO_DEVICE_GET_GFX_DMABUF, &id);
  if (fd < 0) {
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "exporting dmabuf %u of %s: %s", id, dev->name, g_strerror (errno));
    return -1;
  }
  /* Full: the oldest goes. */
  if (dev->n_dmabufs == DMABUF_CACHE) {
    close (dev->dmabufs[0].fd);
    memmove (&dev->dmabufs[0], &dev->dmabufs[1],
        sizeof (CachedDmabuf) * (DMABUF_CACHE - 1));
    dev->n_dmabufs--;
  }
  dev->dmabufs[dev->n_dmabufs].id = id;
  dev->dmabufs[dev->n_dmabufs].fd = fd;
  dev->n_dmabufs++;
  return fd;
}

gpointer
osvdi_vfio_map_region (OsvdiVfioDevice * dev, guint32 index, gsize * size,
    GError ** error)
{
  struct vfio_region_info info = {.argsz = sizeof (info),.index = index };
  MappedRegion r;
  guint i;

  for (i = 0; i < dev->regions->len; i++) {
    MappedRegion *m = &g_array_index (dev->regions, MappedRegion, i);

    if (m->index == index) {
      *size = m->size;
      return m->data;
    }
  }
  if (ioctl (dev->device, VFIO_DEVICE_GET_REGION_INFO, &info) < 0) {
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "region %u of %s: %s", index, dev->name, g_strerror (errno));
    return NULL;
  }
  if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "region %u of %s cannot be mapped", index, dev->name);
    return NULL;
  }
  r.data = mmap (NULL, info.size, PROT_READ, MAP_SHARED, dev->device,
      info.offset);
  if (r.data == MAP_FAILED) {
    g_set_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED,
        "mapping region %u of %s: %s", index, dev->name, g_strerror (errno));
    return NULL;
  }
  r.index = index;
  r.size = info.size;
  g_array_append_val (dev->regions, r);
  *size = r.size;
  return r.data;
}
