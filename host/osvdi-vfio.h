/* OSVDI host - a VFIO mdev's display: open, query planes, export dmabufs
 * SPDX-License-Identifier: Apache-2.0
 *
 * Plain C, no GStreamer. Not thread-safe: one user (the source's streaming
 * thread) at a time.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define OSVDI_VFIO_ERROR (osvdi_vfio_error_quark ())
GQuark osvdi_vfio_error_quark (void);

typedef enum
{
  OSVDI_VFIO_ERROR_NOT_FOUND,   /* no such mdev or group */
  OSVDI_VFIO_ERROR_NOT_VIABLE,  /* a group device is not bound to vfio */
  OSVDI_VFIO_ERROR_BUSY,        /* opened elsewhere (QEMU) */
  OSVDI_VFIO_ERROR_NO_DISPLAY,  /* the device exports no plane */
  OSVDI_VFIO_ERROR_FAILED,      /* anything else; errno in the text */
} OsvdiVfioError;

typedef struct _OsvdiVfioDevice OsvdiVfioDevice;

/* Container, group and device for the mdev @uuid (IOMMU TYPE1v2, else
 * TYPE1). */
OsvdiVfioDevice *osvdi_vfio_open_mdev (const gchar * sysfs,
    const gchar * uuid, GError ** error);
/* A device fd a parent already opened; the device takes no ownership:
 * @fd stays the caller's. */
OsvdiVfioDevice *osvdi_vfio_adopt_fd (gint fd, GError ** error);
void osvdi_vfio_close (OsvdiVfioDevice * dev);

gint osvdi_vfio_device_fd (OsvdiVfioDevice * dev);

typedef enum
{
  OSVDI_PLANE_DMABUF = 1 << 0,
  OSVDI_PLANE_REGION = 1 << 1,
} OsvdiPlaneKinds;

/* Which plane kinds the device offers (probe); 0 with an error naming the
 * device when it has no display at all. */
OsvdiPlaneKinds osvdi_vfio_probe_planes (OsvdiVfioDevice * dev,
    GError ** error);

typedef struct
{
  guint32 drm_format;           /* 0: the guest has not set a mode */
  guint64 modifier;
  guint32 width, height, stride, size;
  gint32 x, y;                  /* cursor plane: its top-left on the screen */
  guint32 hot_x, hot_y;         /* cursor plane: hotspot (0xffffffff unset) */
  OsvdiPlaneKinds kind;
  guint32 id;                   /* dmabuf id or region index */
} OsvdiPlane;

/* The primary plane. A zeroed plane (drm_format 0) means "no mode yet". */
gboolean osvdi_vfio_query_primary (OsvdiVfioDevice * dev,
    OsvdiPlaneKinds kind, OsvdiPlane * plane, GError ** error);

/* Largest cursor plane taken as one (GVT-g's are 64x64 to 256x256). */
#define OSVDI_CURSOR_MAX 512

/* The cursor plane where the device has one (a dmabuf device answering
 * DRM_PLANE_TYPE_CURSOR); a zeroed plane otherwise, or while the guest shows
 * no cursor. FALSE only on a real query error. */
gboolean osvdi_vfio_query_cursor (OsvdiVfioDevice * dev,
    OsvdiPlaneKinds kind, OsvdiPlane * plane, GError ** error);

/* The dmabuf fd of @id, exported once and cached (the last few ids; older
 * ones are closed). Owned by the device: dup() it to keep it. */
gint osvdi_vfio_dmabuf_fd (OsvdiVfioDevice * dev, guint32 id,
    GError ** error);

/* The region @index mapped read-only (once; unmapped at close). */
gpointer osvdi_vfio_map_region (OsvdiVfioDevice * dev, guint32 index,
    gsize * size, GError ** error);

G_END_DECLS
