/* OSVDI - vfiodmabufsrc's direct provider: the mdev's own VFIO display
 * SPDX-License-Identifier: Apache-2.0
 *
 * Where no QEMU holds the device (display-only consumers, the kernel's
 * sample mdev drivers in tests): the element opens the mdev (mdev=) or
 * adopts a parent's device fd (device-fd=) and queries the primary plane
 * at every tick. The VFIO display has no damage information: each tick is a
 * frame. No input path: navigation events are not ours.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "vfiodmabufsrc-provider.h"
#include "osvdi-vfio.h"

#define GST_CAT_DEFAULT gst_vfio_dmabuf_src_debug

/* Keeps the device open while buffers that point into its mappings live,
 * even after stop(). */
typedef struct
{
  OsvdiVfioDevice *dev;
} DeviceRef;

static void
device_ref_clear (gpointer data)
{
  osvdi_vfio_close (((DeviceRef *) data)->dev);
}

static void
device_ref_release (gpointer ref)
{
  g_atomic_rc_box_release_full (ref, device_ref_clear);
}

typedef struct
{
  VfioSrcProvider parent;

  /* Streaming thread (and open/stop). */
  DeviceRef *device;
  OsvdiPlaneKinds kind;         /* the one plane kind used */
} VfioProvider;

static void
vfio_provider_stop (VfioSrcProvider * provider)
{
  VfioProvider *self = (VfioProvider *) provider;

  /* Buffers still downstream keep the device until they are gone. */
  g_clear_pointer (&self->device, device_ref_release);
  g_free (self);
}

static GstMemory *
region_memory (VfioProvider * self, const OsvdiPlane * plane,
    GError ** error)
{
  gsize size;
  gpointer data = osvdi_vfio_map_region (self->device->dev, plane->id,
      &size, error);

  if (!data)
    return NULL;
  return gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, data, size, 0,
      MIN (size, (gsize) plane->stride * plane->height),
      g_atomic_rc_box_acquire (self->device), device_ref_release);
}

static VfioSrcFrameResult
vfio_provider_next_frame (VfioSrcProvider * provider, VfioSrcFrame * frame)
{
  VfioProvider *self = (VfioProvider *) provider;
  GError *error = NULL;
  OsvdiPlane plane;

  if (!osvdi_vfio_query_primary (self->device->dev, self->kind, &plane,
          &error))
    goto query_failed;
  if (!plane.drm_format || !plane.width || !plane.height) {
    /* No mode yet (or the display was disabled): keep polling. */
    vfio_src_waiting_for_display (provider->src);
    return VFIO_SRC_FRAME_NO_DISPLAY;
  }

  frame->format.dmabuf = plane.kind == OSVDI_PLANE_DMABUF;
  frame->format.fourcc = plane.drm_format;
  frame->format.modifier = plane.modifier;
  frame->format.width = plane.width;
  frame->format.height = plane.height;
  frame->format.stride = plane.stride;
  frame->y0_top = TRUE;
  if (frame->format.dmabuf) {
    /* The device's cached export: the element wraps it once per id. */
    frame->fd = osvdi_vfio_dmabuf_fd (self->device->dev, plane.id, &error);
    if (frame->fd < 0)
      goto no_memory;
    frame->key = plane.id;
    frame->size = plane.size;
  } else {
    frame->memory = region_memory (self, &plane, &error);
    if (!frame->memory)
      goto no_memory;
  }
  return VFIO_SRC_FRAME_OK;

  /* ERRORS */
query_failed:
  {
    GST_ELEMENT_ERROR (provider->src, RESOURCE, READ,
        ("Could not read the guest's display."), ("%s", error->message));
    g_clear_error (&error);
    return VFIO_SRC_FRAME_ERROR;
  }
no_memory:
  {
    GST_ELEMENT_ERROR (provider->src, RESOURCE, READ,
        ("Could not map the guest's display."), ("%s", error->message));
    g_clear_error (&error);
    return VFIO_SRC_FRAME_ERROR;
  }
}

static const VfioSrcProviderClass vfio_provider_class = {
  .name = "VFIO",
  .damage_driven = FALSE,
  /* Mode changes and page flips come back to earlier ids. */
  .max_wrappers = 8,
  .stop = vfio_provider_stop,
  .next_frame = vfio_provider_next_frame,
};

VfioSrcProvider *
vfio_src_vfio_provider_open (GstBaseSrc * src, const gchar * mdev,
    gint device_fd)
{
  VfioProvider *self;
  GError *error = NULL;
  OsvdiVfioDevice *dev;

  dev = mdev ? osvdi_vfio_open_mdev ("/sys", mdev, &error)
      : osvdi_vfio_adopt_fd (device_fd, &error);
  if (!dev)
    goto open_failed;

  self = g_new0 (VfioProvider, 1);
  self->parent.klass = &vfio_provider_class;
  self->parent.src = src;
  self->device = g_atomic_rc_box_new0 (DeviceRef);
  self->device->dev = dev;
  self->kind = osvdi_vfio_probe_planes (dev, &error);
  if (!self->kind)
    goto no_display;
  /* dmabufs where the device exports them: the zero-copy path. */
  if (self->kind & OSVDI_PLANE_DMABUF)
    self->kind = OSVDI_PLANE_DMABUF;
  GST_INFO_OBJECT (src, "%s: %s planes", mdev ? mdev : "adopted fd",
      self->kind == OSVDI_PLANE_DMABUF ? "dmabuf" : "region");
  return &self->parent;

  /* ERRORS */
open_failed:
  {
    vfio_src_post_open_error (src, error);
    g_clear_error (&error);
    return NULL;
  }
no_display:
  {
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    g_clear_error (&error);
    vfio_provider_stop (&self->parent);
    return NULL;
  }
}
