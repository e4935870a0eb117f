/* OSVDI - vfiodmabufsrc
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * SECTION:element-vfiodmabufsrc
 * @title: vfiodmabufsrc
 *
 * A live source of a VM's framebuffer, read through the VFIO display API of
 * a mediated device (Intel GVT-g, NVIDIA vGPU, the kernel's mbochs/mdpy
 * samples): each frame tick queries the primary plane and outputs it
 * without a copy, as `video/x-raw(memory:DMABuf)` when the device exports
 * dmabufs and downstream takes them, else as system memory mapped from the
 * same dmabuf or from the device's region. A guest that changes its mode
 * renegotiates the caps in-stream; one that has not set a mode yet is
 * waited for (an element message `vfiodmabufsrc/waiting-for-display` says
 * so once).
 *
 * A VFIO group opens only once: where QEMU owns the device, use QEMU's
 * display instead (#GstVfioDmabufSrc:qemu-display-fd: QEMU's `-display dbus`
 * connection, as libvirt's virDomainOpenGraphicsFD hands it out; frames are
 * pushed when the console changed, GL scanouts pass QEMU's dmabuf on, and
 * GstNavigation events from downstream go to the VM's keyboard and mouse);
 * #GstVfioDmabufSrc:domain names a libvirt domain and lets the element ask
 * libvirt for that connection itself; a parent that holds the device can
 * hand its fd over
 * (#GstVfioDmabufSrc:device-fd).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 vfiodmabufsrc mdev=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 ! \
 *     videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast ! \
 *     h264parse ! spicesink password-file=/run/osvdi/ticket
 * ]| A mediated device's display to SPICE clients.
 * |[
 * gst-launch-1.0 vfiodmabufsrc mdev=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 ! \
 *     vapostproc ! vah264enc ! h264parse ! spicesink password-file=...
 * ]| The same, dmabufs straight into VA-API.
 * |[
 * scripts/qemu-display-connect /run/vm1-qmp.sock -- gst-launch-1.0 \
 *     vfiodmabufsrc 'qemu-display-fd={fd}' ! videoconvert ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! \
 *     spicesink password-file=...
 * ]| A QEMU VM's D-Bus display (`-display dbus,p2p=yes`) to SPICE clients.
 * |[
 * gst-launch-1.0 vfiodmabufsrc domain=vm1 libvirt-uri=qemu:///system ! \
 *     videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast ! \
 *     h264parse ! spicesink password-file=...
 * ]| The same for a libvirt domain with `<graphics type='dbus' p2p='yes'/>`.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstvfiodmabufsrc.h"
#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-drm-format.h"
#include "osvdi-qemu-display.h"
#include "osvdicursor.h"
#include "osvdikeys.h"
#ifdef HAVE_LIBVIRT
#include "osvdi-libvirt.h"
#endif

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <gst/video/video.h>
#include <gst/allocators/gstdmabuf.h>
#include <gst/video/navigation.h>

GST_DEBUG_CATEGORY_STATIC (gst_vfio_dmabuf_src_debug);
#define GST_CAT_DEFAULT gst_vfio_dmabuf_src_debug

#define DEFAULT_DEVICE_FD -1
#define DEFAULT_QEMU_DISPLAY_FD -1
#define DEFAULT_ON_DISCONNECT GST_VFIO_DMABUF_SRC_ON_DISCONNECT_EOS
#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_MAX_FPS 60
#define MAX_WRAPPERS 8

enum
{
  PROP_0,
  PROP_MDEV,
  PROP_DEVICE_FD,
  PROP_QEMU_DISPLAY_FD,
  PROP_DOMAIN,
  PROP_LIBVIRT_URI,
  PROP_ON_DISCONNECT,
  PROP_CONNECT_TIMEOUT,
  PROP_STATS,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

typedef enum
{
  GST_VFIO_DMABUF_SRC_ON_DISCONNECT_EOS,
  GST_VFIO_DMABUF_SRC_ON_DISCONNECT_ERROR,
} GstVfioDmabufSrcOnDisconnect;

#define GST_TYPE_VFIO_DMABUF_SRC_ON_DISCONNECT \
    (gst_vfio_dmabuf_src_on_disconnect_get_type ())
static GType
gst_vfio_dmabuf_src_on_disconnect_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_VFIO_DMABUF_SRC_ON_DISCONNECT_EOS, "End of stream", "eos"},
    {GST_VFIO_DMABUF_SRC_ON_DISCONNECT_ERROR, "Error", "error"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type,
        g_enum_register_static ("GstVfioDmabufSrcOnDisconnect", values));
  return type;
}

#define FORMATS "{ BGRx, BGRA, RGBx, RGBA, xBGR, xRGB, RGB16, BGR16, BGR, RGB }"

/* GStreamer 1.24 describes dmabufs as format=DMA_DRM + drm-format (fourcc
 * and modifier); 1.22 has only the plain formats, so linear planes only. */
#if GST_CHECK_VERSION (1, 24, 0)
#define DMABUF_CAPS "video/x-raw(" GST_CAPS_FEATURE_MEMORY_DMABUF "), " \
    "format = (string) DMA_DRM, width = " GST_VIDEO_SIZE_RANGE ", " \
    "height = " GST_VIDEO_SIZE_RANGE ", framerate = " GST_VIDEO_FPS_RANGE
#else
#define DMABUF_CAPS GST_VIDEO_CAPS_MAKE_WITH_FEATURES \
    (GST_CAPS_FEATURE_MEMORY_DMABUF, FORMATS)
#endif

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (DMABUF_CAPS ";" GST_VIDEO_CAPS_MAKE (FORMATS)));

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

static DeviceRef *
device_ref_acquire (DeviceRef * ref)
{
  return g_atomic_rc_box_acquire (ref);
}

static void
device_ref_release (gpointer ref)
{
  g_atomic_rc_box_release_full (ref, device_ref_clear);
}

struct _GstVfioDmabufSrc
{
  GstPushSrc parent;

  /* Settings: GST_OBJECT_LOCK. */
  gchar *mdev;
  gint device_fd;
  gint qemu_display_fd;
  gchar *domain;
  gchar *libvirt_uri;
  GstVfioDmabufSrcOnDisconnect on_disconnect;
  guint connect_timeout;
  guint64 frames_out, mirror_copies;    /* stats */

  /* QEMU's D-Bus display, when that is the provider. Set in start() and
   * cleared in stop() under qemu_lock, which event() (upstream, another
   * thread) holds while it uses the display; the streaming thread needs
   * no lock (it does not run across start()/stop()). Order: qemu_lock,
   * then the display's own lock; never GST_OBJECT_LOCK inside it. */
  GMutex qemu_lock;
  OsvdiQemuDisplay *qemu;
  /* The GL scanout's wrapper, reused for each frame of one scanout
   * (streaming thread). */
  GstMemory *scanout_mem;
  guint64 scanout_mem_serial;
  /* The guest's cursor (the D-Bus thread's): GST_OBJECT_LOCK. */
  GstEvent *cursor_shape;       /* last cursor-set, for showing it again */
  gint cursor_hot_x, cursor_hot_y;
  gboolean cursor_hidden;
  gint force_frame;             /* atomic: a keyframe was asked for */
  guint64 scanout_serial;

  /* Streaming state: the streaming thread, and start()/stop(). */
  DeviceRef *device;
  OsvdiPlaneKinds kind;
  OsvdiPlane plane;             /* the plane the caps describe */
  gboolean have_plane;
  const OsvdiDrmFormat *format;
  GstVideoInfo info;
  gboolean dmabuf_caps;
  gboolean video_meta;
  gint fps_n, fps_d;
  GHashTable *wrappers;         /* dmabuf id -> GstMemory (owns a dup'd fd) */
  GstAllocator *dmabuf_allocator;
  GstClockTime next_time;       /* running time of the next frame */
  gboolean waiting_posted;

  /* Waking a waiting create(): GST_OBJECT_LOCK. */
  GstClockID clock_id;
  gboolean flushing;
};

#define gst_vfio_dmabuf_src_parent_class parent_class
G_DEFINE_TYPE (GstVfioDmabufSrc, gst_vfio_dmabuf_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (vfiodmabufsrc, "vfiodmabufsrc", GST_RANK_NONE,
    GST_TYPE_VFIO_DMABUF_SRC);

static gboolean qemu_start (GstVfioDmabufSrc * self, gint fd);
static gboolean libvirt_start (GstVfioDmabufSrc * self, gchar * uri,
    gchar * domain);
static GstFlowReturn qemu_create (GstVfioDmabufSrc * self,
    GstBuffer ** outbuf);
static gboolean qemu_input (GstVfioDmabufSrc * self, GstEvent * event);

static GstClockTime
frame_duration (GstVfioDmabufSrc * self)
{
  return gst_util_uint64_scale_int (GST_SECOND, self->fps_d, self->fps_n);
}

/* ------------------------------------------------------------------------ */

/* A failure to open the capture, as the RESOURCE error a user can act on:
 * not found, busy, or a setting to change. */
static void
post_open_error (GstVfioDmabufSrc * self, const GError * error)
{
  if (g_error_matches (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_BUSY))
    GST_ELEMENT_ERROR (self, RESOURCE, BUSY, ("%s", error->message), (NULL));
  else if (g_error_matches (error, OSVDI_MDEV_ERROR,
          OSVDI_MDEV_ERROR_NOT_FOUND)
      || g_error_matches (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_NOT_FOUND)
#ifdef HAVE_LIBVIRT
      || g_error_matches (error, OSVDI_LIBVIRT_ERROR,
          OSVDI_LIBVIRT_ERROR_NOT_FOUND)
#endif
      )
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("%s", error->message),
        (NULL));
#ifdef HAVE_LIBVIRT
  else if (g_error_matches (error, OSVDI_LIBVIRT_ERROR,
          OSVDI_LIBVIRT_ERROR_NO_DISPLAY))
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
#endif
  else
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("%s", error->message), (NULL));
}

static gboolean
gst_vfio_dmabuf_src_start (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  GError *error = NULL;
  OsvdiVfioDevice *dev;
  gchar *mdev;
  gint fd;

  gint qemu_fd;
  gchar *domain, *uri;

  GST_OBJECT_LOCK (self);
  mdev = g_strdup (self->mdev);
  fd = self->device_fd;
  qemu_fd = self->qemu_display_fd;
  domain = g_strdup (self->domain);
  uri = g_strdup (self->libvirt_uri);
  GST_OBJECT_UNLOCK (self);

  if ((mdev != NULL) + (fd >= 0) + (qemu_fd >= 0) + (domain != NULL) != 1
      || (uri && !domain)) {
    g_free (domain);
    g_free (uri);
    goto bad_settings;
  }
  self->have_plane = FALSE;
  self->next_time = GST_CLOCK_TIME_NONE;
  self->waiting_posted = FALSE;
  if (qemu_fd >= 0)
    return qemu_start (self, qemu_fd);
  if (domain)
    return libvirt_start (self, uri, domain);
  dev = mdev ? osvdi_vfio_open_mdev ("/sys", mdev, &error)
      : osvdi_vfio_adopt_fd (fd, &error);
  if (!dev)
    goto open_failed;
  self->device = g_atomic_rc_box_new0 (DeviceRef);
  self->device->dev = dev;

  self->kind = osvdi_vfio_probe_planes (dev, &error);
  if (!self->kind)
    goto no_display;
  /* dmabufs where the device exports them: the zero-copy path. */
  if (self->kind & OSVDI_PLANE_DMABUF)
    self->kind = OSVDI_PLANE_DMABUF;

  self->wrappers = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) gst_memory_unref);
  self->dmabuf_allocator = gst_dmabuf_allocator_new ();
  self->have_plane = FALSE;
  self->next_time = GST_CLOCK_TIME_NONE;
  self->waiting_posted = FALSE;
  GST_INFO_OBJECT (self, "%s: %s planes", mdev ? mdev : "adopted fd",
      self->kind == OSVDI_PLANE_DMABUF ? "dmabuf" : "region");
  g_free (mdev);
  return TRUE;

  /* ERRORS */
bad_settings:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set exactly one of \"mdev\", \"device-fd\", "
            "\"qemu-display-fd\" and \"domain\" (\"libvirt-uri\" goes "
            "with \"domain\")."), (NULL));
    g_free (mdev);
    return FALSE;
  }
open_failed:
  {
    post_open_error (self, error);
    g_clear_error (&error);
    g_free (mdev);
    return FALSE;
  }
no_display:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    g_clear_error (&error);
    g_clear_pointer (&self->device, device_ref_release);
    g_free (mdev);
    return FALSE;
  }
}

static gboolean
gst_vfio_dmabuf_src_stop (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  OsvdiQemuDisplay *qemu;

  g_mutex_lock (&self->qemu_lock);
  qemu = g_steal_pointer (&self->qemu);
  g_mutex_unlock (&self->qemu_lock);
  if (qemu)
    GST_INFO_OBJECT (self, "QEMU display: the mirror was copied %"
        G_GUINT64_FORMAT " times (updates while a frame was held)",
        osvdi_qemu_display_mirror_copies (qemu));
  g_clear_pointer (&self->scanout_mem, gst_memory_unref);
  osvdi_qemu_display_free (qemu);
  GST_OBJECT_LOCK (self);
  gst_clear_event (&self->cursor_shape);
  GST_OBJECT_UNLOCK (self);
  g_clear_pointer (&self->wrappers, g_hash_table_unref);
  g_clear_object (&self->dmabuf_allocator);
  /* Buffers still downstream keep the device until they are gone. */
  g_clear_pointer (&self->device, device_ref_release);
  self->have_plane = FALSE;
  return TRUE;
}

static gboolean
gst_vfio_dmabuf_src_unlock (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  self->flushing = TRUE;
  if (self->clock_id)
    gst_clock_id_unschedule (self->clock_id);
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&self->qemu_lock);
  if (self->qemu)
    osvdi_qemu_display_set_flushing (self->qemu, TRUE);
  g_mutex_unlock (&self->qemu_lock);
  return TRUE;
}

static gboolean
gst_vfio_dmabuf_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  self->flushing = FALSE;
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&self->qemu_lock);
  if (self->qemu)
    osvdi_qemu_display_set_flushing (self->qemu, FALSE);
  g_mutex_unlock (&self->qemu_lock);
  return TRUE;
}

/* Waits until the next frame's time; FLUSHING when woken by unlock(). */
static GstFlowReturn
wait_tick (GstVfioDmabufSrc * self)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime base, now;
  GstClockID id;
  GstClockReturn ret;

  if (!clock)
    goto no_clock;
  base = gst_element_get_base_time (GST_ELEMENT (self));
  now = gst_clock_get_time (clock) - base;
  if (!GST_CLOCK_TIME_IS_VALID (self->next_time)
      || self->next_time + frame_duration (self) < now)
    /* First frame, or we fell behind: start again from now. */
    self->next_time = now;

  id = gst_clock_new_single_shot_id (clock, base + self->next_time);
  gst_object_unref (clock);
  GST_OBJECT_LOCK (self);
  if (self->flushing) {
    GST_OBJECT_UNLOCK (self);
    gst_clock_id_unref (id);
    return GST_FLOW_FLUSHING;
  }
  self->clock_id = id;
  GST_OBJECT_UNLOCK (self);

  ret = gst_clock_id_wait (id, NULL);

  GST_OBJECT_LOCK (self);
  self->clock_id = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_clock_id_unref (id);
  return ret == GST_CLOCK_UNSCHEDULED ? GST_FLOW_FLUSHING : GST_FLOW_OK;

  /* ERRORS */
no_clock:
  {
    /* Not FLUSHING: a silent pause is a stream that stalls mute. */
    GST_ELEMENT_ERROR (self, CORE, CLOCK, ("No clock to pace frames by."),
        ("vfiodmabufsrc is live and paces itself by the pipeline clock; "
            "run it in a pipeline that has one"));
    return GST_FLOW_ERROR;
  }
}

static GstCaps *
plane_caps (GstVfioDmabufSrc * self, gboolean dmabuf)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, self->format->video_format,
      "width", G_TYPE_INT, (gint) self->plane.width,
      "height", G_TYPE_INT, (gint) self->plane.height,
      "framerate", GST_TYPE_FRACTION_RANGE, 1, 1, DEFAULT_MAX_FPS, 1, NULL);

  if (dmabuf) {
#if GST_CHECK_VERSION (1, 24, 0)
    gchar *drm = gst_video_dma_drm_fourcc_to_string (self->plane.drm_format,
        self->plane.modifier);

    gst_caps_set_simple (caps, "format", G_TYPE_STRING, "DMA_DRM",
        "drm-format", G_TYPE_STRING, drm, NULL);
    g_free (drm);
#endif
    gst_caps_set_features (caps, 0,
        gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_DMABUF, NULL));
  }
  return caps;
}

/* GStreamer 1.24 carries modifiers; 1.22 only linear dmabufs. */
static gboolean
dmabuf_caps_possible (GstVfioDmabufSrc * self)
{
  if (self->plane.kind != OSVDI_PLANE_DMABUF)
    return FALSE;
#if GST_CHECK_VERSION (1, 24, 0)
  return TRUE;
#else
  return self->plane.modifier == 0;
#endif
}

static gboolean
gst_vfio_dmabuf_src_negotiate (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  GstCaps *peer, *want, *caps = NULL;
  GstStructure *s;
  gboolean ok;

  /* Nothing to describe before the guest has a mode: create() negotiates
   * as soon as it has one. */
  if (!self->have_plane)
    return TRUE;

  peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (bsrc), NULL);
  if (dmabuf_caps_possible (self)) {
    want = plane_caps (self, TRUE);
    caps = gst_caps_intersect (peer, want);
    gst_caps_unref (want);
    if (gst_caps_is_empty (caps))
      gst_clear_caps (&caps);
  }
  if (!caps) {
    want = plane_caps (self, FALSE);
    caps = gst_caps_intersect (peer, want);
    gst_caps_unref (want);
  }
  gst_caps_unref (peer);
  if (gst_caps_is_empty (caps)) {
    gst_caps_unref (caps);
    return FALSE;
  }
  caps = gst_caps_truncate (caps);
  caps = gst_caps_make_writable (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_fraction (s, "framerate",
      DEFAULT_MAX_FPS, 1);
  caps = gst_caps_fixate (caps);

  self->dmabuf_caps = gst_caps_features_contains (gst_caps_get_features (caps,
          0), GST_CAPS_FEATURE_MEMORY_DMABUF);
  /* The plane's own format, not the caps' (DMA_DRM on 1.24): GstVideoMeta
   * and the stride copy need it. */
  gst_structure_get_fraction (gst_caps_get_structure (caps, 0), "framerate",
      &self->fps_n, &self->fps_d);
  self->fps_n = MAX (self->fps_n, 1);
  self->fps_d = MAX (self->fps_d, 1);
  gst_video_info_set_format (&self->info,
      gst_video_format_from_string (self->format->video_format),
      self->plane.width, self->plane.height);
  GST_VIDEO_INFO_FPS_N (&self->info) = self->fps_n;
  GST_VIDEO_INFO_FPS_D (&self->info) = self->fps_d;
  GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
  ok = gst_base_src_set_caps (bsrc, caps);
  gst_caps_unref (caps);
  return ok;
}

static gboolean
gst_vfio_dmabuf_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  self->video_meta = gst_query_find_allocation_meta (query,
      GST_VIDEO_META_API_TYPE, NULL);
  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

static gboolean
gst_vfio_dmabuf_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->have_plane) {
    /* A frame is ready one frame interval after its tick at the latest. */
    gst_query_set_latency (query, TRUE, frame_duration (self),
        frame_duration (self));
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static GstMemory *
dmabuf_memory (GstVfioDmabufSrc * self, GError ** error)
{
  GstMemory *mem = g_hash_table_lookup (self->wrappers,
      GUINT_TO_POINTER (self->plane.id));
  gint fd;

  if (mem)
    return gst_memory_ref (mem);
  fd = osvdi_vfio_dmabuf_fd (self->device->dev, self->plane.id, error);
  if (fd < 0)
    return NULL;
  /* One wrapper per dmabuf id, reused, so downstream import caches hit. It
   * owns a duplicate: the host's cache may close its own fd. */
  if (g_hash_table_size (self->wrappers) >= MAX_WRAPPERS)
    g_hash_table_remove_all (self->wrappers);
  mem = gst_dmabuf_allocator_alloc (self->dmabuf_allocator, dup (fd),
      self->plane.size);
  g_hash_table_insert (self->wrappers, GUINT_TO_POINTER (self->plane.id),
      mem);
  return gst_memory_ref (mem);
}

static GstMemory *
region_memory (GstVfioDmabufSrc * self, GError ** error)
{
  gsize size;
  gpointer data = osvdi_vfio_map_region (self->device->dev, self->plane.id,
      &size, error);

  if (!data)
    return NULL;
  return gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY, data, size, 0,
      MIN (size, (gsize) self->plane.stride * self->plane.height),
      device_ref_acquire (self->device), device_ref_release);
}

/* Without GstVideoMeta downstream assumes GStreamer's default strides; a
 * plane with others must be copied (rare: linear scanouts are usually
 * packed). */
static GstBuffer *
copy_to_default_stride (GstVfioDmabufSrc * self, GstBuffer * in)
{
  GstBuffer *out = gst_buffer_new_allocate (NULL, self->info.size, NULL);
  GstMapInfo src, dst;
  guint row, bytes = self->plane.width * self->format->bytes_per_pixel;

  if (gst_buffer_map (in, &src, GST_MAP_READ)) {
    gst_buffer_map (out, &dst, GST_MAP_WRITE);
    for (row = 0; row < self->plane.height; row++)
      memcpy (dst.data + row * GST_VIDEO_INFO_PLANE_STRIDE (&self->info, 0),
          src.data + (gsize) row * self->plane.stride, bytes);
    gst_buffer_unmap (out, &dst);
    gst_buffer_unmap (in, &src);
  }
  gst_buffer_unref (in);
  return out;
}

/* ------------------------------------------------------------------------ */
/* QEMU's D-Bus display as the provider. */

static void
qemu_cursor_define (gpointer user_data, guint width, guint height,
    gint hot_x, gint hot_y, GBytes * bgra)
{
  GstVfioDmabufSrc *self = user_data;
  GstBuffer *pixels = gst_buffer_new_wrapped_bytes (bgra);
  GstEvent *event = osvdi_cursor_event_new_set (width, height,
      MAX (hot_x, 0), MAX (hot_y, 0), pixels);
  gboolean hidden;

  gst_buffer_unref (pixels);
  GST_OBJECT_LOCK (self);
  gst_event_replace (&self->cursor_shape, event);
  self->cursor_hot_x = MAX (hot_x, 0);
  self->cursor_hot_y = MAX (hot_y, 0);
  hidden = self->cursor_hidden;
  GST_OBJECT_UNLOCK (self);
  /* Out-of-band: any thread may push it, and it passes the encoder at once.
   * A hidden cursor's new shape waits until it shows again. */
  if (!hidden)
    gst_pad_push_event (GST_BASE_SRC_PAD (self), event);
  else
    gst_event_unref (event);
}

/* QEMU's MouseSet gives the cursor image's top-left corner; a SPICE cursor
 * position is its hot spot (QEMU's own SPICE display adds it too). A cursor
 * the guest turned off becomes a transparent one: the SPICE stream device
 * has no "hide". */
static void
qemu_cursor_move (gpointer user_data, gint x, gint y, gboolean visible)
{
  GstVfioDmabufSrc *self = user_data;
  GstEvent *show = NULL;
  gboolean hide = FALSE;

  GST_OBJECT_LOCK (self);
  if (!visible && !self->cursor_hidden)
    hide = TRUE;
  else if (visible && self->cursor_hidden && self->cursor_shape)
    show = gst_event_ref (self->cursor_shape);
  self->cursor_hidden = !visible;
  x += self->cursor_hot_x;
  y += self->cursor_hot_y;
  GST_OBJECT_UNLOCK (self);

  if (hide) {
    guint8 clear[4] = { 0, 0, 0, 0 };
    GstBuffer *pixels = gst_buffer_new_memdup (clear, sizeof clear);

    gst_pad_push_event (GST_BASE_SRC_PAD (self),
        osvdi_cursor_event_new_set (1, 1, 0, 0, pixels));
    gst_buffer_unref (pixels);
    return;
  }
  if (show)
    gst_pad_push_event (GST_BASE_SRC_PAD (self), show);
  if (visible)
    gst_pad_push_event (GST_BASE_SRC_PAD (self),
        osvdi_cursor_event_new_move (x, y));
}

static gboolean
qemu_start (GstVfioDmabufSrc * self, gint fd)
{
  static const OsvdiQemuDisplayCallbacks callbacks = {
    .cursor_define = qemu_cursor_define,
    .cursor_move = qemu_cursor_move,
  };
  GError *error = NULL;
  OsvdiQemuDisplay *qemu;
  guint timeout;

  GST_OBJECT_LOCK (self);
  timeout = self->connect_timeout;
  GST_OBJECT_UNLOCK (self);
  /* Connects on the display's thread: start() does not wait for a peer
   * that may never answer (a state change cannot be interrupted); create()
   * waits, interruptibly, and reports a failure. */
  qemu = osvdi_qemu_display_new (fd, 0, timeout, &callbacks, self, &error);
  if (!qemu) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
        ("Could not connect to QEMU's display."), ("%s", error->message));
    g_clear_error (&error);
    return FALSE;
  }
  g_mutex_lock (&self->qemu_lock);
  self->qemu = qemu;
  g_mutex_unlock (&self->qemu_lock);
  self->dmabuf_allocator = gst_dmabuf_allocator_new ();
  self->wrappers = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) gst_memory_unref);
  self->scanout_serial = 0;
  GST_OBJECT_LOCK (self);
  gst_clear_event (&self->cursor_shape);
  self->cursor_hot_x = self->cursor_hot_y = 0;
  self->cursor_hidden = FALSE;
  GST_OBJECT_UNLOCK (self);
  g_atomic_int_set (&self->force_frame, TRUE);
  GST_INFO_OBJECT (self, "QEMU display on fd %d", fd);
  return TRUE;
}

/* QEMU's display of a libvirt domain, asked of libvirt at each start (a
 * connection serves one start: QEMU gives the display to its newest
 * client). Takes @uri and @domain. */
static gboolean
libvirt_start (GstVfioDmabufSrc * self, gchar * uri, gchar * domain)
{
#ifdef HAVE_LIBVIRT
  GError *error = NULL;
  gboolean ret;
  gint fd;

  fd = osvdi_libvirt_open_dbus_display_by_name (uri, domain, &error);
  if (fd < 0) {
    post_open_error (self, error);
    g_clear_error (&error);
    ret = FALSE;
  } else {
    GST_INFO_OBJECT (self, "domain %s: display connection from libvirt",
        domain);
    ret = qemu_start (self, fd);
    close (fd);
  }
  g_free (uri);
  g_free (domain);
  return ret;
#else
  GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
      ("\"domain\" needs libvirt, and this build has none."),
      ("rebuild with libvirt and libxml2 development files, or hand the "
          "connection over with \"qemu-display-fd\""));
  g_free (uri);
  g_free (domain);
  return FALSE;
#endif
}

/* A new scanout size or kind: new caps. */
static gboolean
qemu_renegotiate (GstVfioDmabufSrc * self, const OsvdiQemuFrame * f)
{
  GError *error = NULL;
  OsvdiPlane plane = {
    .drm_format = f->fourcc,.modifier = f->modifier,.width = f->width,
    .height = f->height,.stride = f->dmabuf ? f->stride : f->width * 4,
    .size = f->stride * f->height,
    .kind = f->dmabuf ? OSVDI_PLANE_DMABUF : OSVDI_PLANE_REGION,
  };

  self->format = osvdi_drm_format_get (f->fourcc, &error);
  if (!self->format) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    g_clear_error (&error);
    return FALSE;
  }
  self->plane = plane;
  self->have_plane = TRUE;
  if (!gst_base_src_negotiate (GST_BASE_SRC (self))) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Downstream does not take %s %ux%u.", self->format->video_format,
            f->width, f->height), (NULL));
    return FALSE;
  }
  if (f->dmabuf) {
    if (!f->y0_top)
      /* A GL scanout stored bottom-up: say so, videoflip
       * video-direction=auto turns it. */
      gst_pad_push_event (GST_BASE_SRC_PAD (self),
          gst_event_new_tag (gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION,
                  "flip-rotate-180", NULL)));
  }
  return TRUE;
}

static void
qemu_frame_done (gpointer data)
{
  gpointer *pair = data;

  osvdi_qemu_display_frame_done (pair[0], pair[1]);
  g_free (pair);
}

static GstFlowReturn
qemu_create (GstVfioDmabufSrc * self, GstBuffer ** outbuf)
{
  GstClock *clock;
  GstBuffer *buf = NULL;
  OsvdiQemuFrame f;
  GstFlowReturn ret;

  for (;;) {
    gboolean force;
    OsvdiQemuFrameResult res;

    /* Never faster than the negotiated rate: later changes coalesce. */
    ret = wait_tick (self);
    if (ret != GST_FLOW_OK)
      return ret;

    if (!self->waiting_posted
        && !osvdi_qemu_display_has_scanout (self->qemu)) {
      self->waiting_posted = TRUE;
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (GST_OBJECT (self),
              gst_structure_new_empty ("vfiodmabufsrc/waiting-for-display")));
    }

    force = g_atomic_int_exchange (&self->force_frame, FALSE);
    res = osvdi_qemu_display_next_frame (self->qemu,
        g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND, force, &f);

    if (res == OSVDI_QEMU_FRAME_FLUSHING)
      return GST_FLOW_FLUSHING;
    if (res == OSVDI_QEMU_FRAME_FAILED) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE, ("%s",
              osvdi_qemu_display_closed_reason (self->qemu)),
          ("connect-timeout is %u s", self->connect_timeout));
      return GST_FLOW_ERROR;
    }
    if (res == OSVDI_QEMU_FRAME_CLOSED) {
      if (self->on_disconnect == GST_VFIO_DMABUF_SRC_ON_DISCONNECT_ERROR) {
        GST_ELEMENT_ERROR (self, RESOURCE, READ,
            ("The VM's display went away."), ("%s",
                osvdi_qemu_display_closed_reason (self->qemu)));
        return GST_FLOW_ERROR;
      }
      GST_INFO_OBJECT (self, "end of stream: %s",
          osvdi_qemu_display_closed_reason (self->qemu));
      return GST_FLOW_EOS;
    }
    if (force && res != OSVDI_QEMU_FRAME_OK)
      g_atomic_int_set (&self->force_frame, TRUE);
    if (res == OSVDI_QEMU_FRAME_TIMEOUT) {
      /* Nothing changed: nothing to push. Keep the tick from running
       * ahead so the next change goes out at once. */
      self->next_time = GST_CLOCK_TIME_NONE;
      continue;
    }
    self->waiting_posted = FALSE;
    break;
  }

  {
    gboolean new_format = !self->have_plane
        || f.dmabuf != (self->plane.kind == OSVDI_PLANE_DMABUF)
        || f.width != self->plane.width || f.height != self->plane.height
        || f.fourcc != self->plane.drm_format;

    if (new_format || (f.dmabuf && f.scanout_serial != self->scanout_serial)) {
      /* The old scanout's pending updates are answered now; a new format
       * needs new caps first. */
      osvdi_qemu_display_frame_done (self->qemu, f.token);
      f.token = NULL;
      if (new_format && !qemu_renegotiate (self, &f)) {
        osvdi_qemu_pixels_unref (f.pixels);
        if (f.dmabuf_fd >= 0)
          close (f.dmabuf_fd);
        return GST_FLOW_NOT_NEGOTIATED;
      }
    }
    self->scanout_serial = f.scanout_serial;
  }

  {
    gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
    gint stride[GST_VIDEO_MAX_PLANES] = { (gint) f.stride };
    gsize size = (gsize) f.stride * f.height;

    if (f.dmabuf) {
      gpointer *pair;

      if (f.dmabuf_fd < 0) {
        osvdi_qemu_display_frame_done (self->qemu, f.token);
        goto dup_failed;
      }
#if !GST_CHECK_VERSION (1, 24, 0)
      /* The caps fell back to system memory: a tiled plane mapped as
       * linear pixels would be garbage. */
      if (f.modifier != 0) {
        close (f.dmabuf_fd);
        osvdi_qemu_display_frame_done (self->qemu, f.token);
        goto tiled;
      }
#endif
      if (!self->dmabuf_caps && size % sysconf (_SC_PAGESIZE)) {
        close (f.dmabuf_fd);
        osvdi_qemu_display_frame_done (self->qemu, f.token);
        goto unmappable;
      }
      /* One wrapper per scanout, reused, so downstream import caches hit;
       * a new scanout gets a new one. */
      if (!self->scanout_mem || self->scanout_mem_serial != f.scanout_serial) {
        g_clear_pointer (&self->scanout_mem, gst_memory_unref);
        self->scanout_mem = gst_dmabuf_allocator_alloc
            (self->dmabuf_allocator, f.dmabuf_fd, size);
        self->scanout_mem_serial = f.scanout_serial;
      } else {
        close (f.dmabuf_fd);
      }
      buf = gst_buffer_new ();
      gst_buffer_append_memory (buf, gst_memory_ref (self->scanout_mem));
      pair = g_new (gpointer, 2);
      /* QEMU draws again once this frame is done with. */
      GST_LOG_OBJECT (self, "dmabuf frame %ux%u, %s", f.width, f.height,
          f.token ? "answers QEMU's updates when released" : "no update");
      pair[0] = self->qemu;
      pair[1] = f.token;
      gst_mini_object_set_qdata (GST_MINI_OBJECT (buf),
          g_quark_from_static_string ("osvdi-qemu-frame"), pair,
          qemu_frame_done);
    } else {
      /* The mirror itself, read-only: QEMU's next change copies it only if
       * this frame is still held then (a writer downstream gets its own
       * copy from GStreamer). */
      buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
          (gpointer) f.data, size, 0, size, f.pixels,
          osvdi_qemu_pixels_unref);
    }
    if (self->video_meta || self->dmabuf_caps)
      gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
          GST_VIDEO_INFO_FORMAT (&self->info), f.width, f.height, 1, offset,
          stride);
    else if ((gint) f.stride != GST_VIDEO_INFO_PLANE_STRIDE (&self->info, 0))
      buf = copy_to_default_stride (self, buf);
  }

  /* Live and damage-driven: stamp with the capture time. */
  clock = gst_element_get_clock (GST_ELEMENT (self));
  if (clock) {
    GstClockTime now = gst_clock_get_time (clock)
        - gst_element_get_base_time (GST_ELEMENT (self));

    GST_BUFFER_PTS (buf) = now;
    self->next_time = now + frame_duration (self);
    gst_object_unref (clock);
  }
  GST_BUFFER_DURATION (buf) = frame_duration (self);
  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
dup_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not take QEMU's scanout dmabuf."),
        ("dup() of the scanout's fd failed: %s", g_strerror (errno)));
    return GST_FLOW_ERROR;
  }
#if !GST_CHECK_VERSION (1, 24, 0)
tiled:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("QEMU's GL scanout is tiled, which GStreamer 1.22 cannot carry."),
        ("DRM modifier 0x%016" G_GINT64_MODIFIER "x", f.modifier));
    return GST_FLOW_ERROR;
  }
#endif
unmappable:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("QEMU's %ux%u scanout cannot be mapped into system memory: its "
            "dmabuf is not a whole number of pages. Use a downstream "
            "element that imports dmabufs.", f.width, f.height),
        ("stride %u, page size %ld", f.stride, sysconf (_SC_PAGESIZE)));
    return GST_FLOW_ERROR;
  }
}

/* Upstream: a keyframe request becomes a frame even on a still screen;
 * GstNavigation input goes to the VM. */
static gboolean
gst_vfio_dmabuf_src_event (GstBaseSrc * bsrc, GstEvent * event)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  gboolean ret;

  if (gst_video_event_is_force_key_unit (event)
      || gst_event_has_name (event, "osvdi/refresh")) {
    g_atomic_int_set (&self->force_frame, TRUE);
    g_mutex_lock (&self->qemu_lock);
    if (self->qemu)
      osvdi_qemu_display_want_frame (self->qemu);
    g_mutex_unlock (&self->qemu_lock);
    return TRUE;
  }
  if (GST_EVENT_TYPE (event) != GST_EVENT_NAVIGATION)
    return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);

  g_mutex_lock (&self->qemu_lock);
  if (!self->qemu) {
    g_mutex_unlock (&self->qemu_lock);
    return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);
  }
  ret = qemu_input (self, event);
  g_mutex_unlock (&self->qemu_lock);
  return ret;
}

/* GstNavigation input into the VM; qemu_lock held. */
static gboolean
qemu_input (GstVfioDmabufSrc * self, GstEvent * event)
{
  const GstStructure *s;

  s = gst_event_get_structure (event);
  switch (gst_navigation_event_get_type (event)) {
    case GST_NAVIGATION_EVENT_KEY_PRESS:
    case GST_NAVIGATION_EVENT_KEY_RELEASE:{
      guint scancode = 0;
      const gchar *key = NULL;

      if (!gst_structure_get_uint (s, "scancode", &scancode)
          && gst_navigation_event_parse_key_event (event, &key))
        scancode = osvdi_key_name_to_scancode (key);
      if (osvdi_scancode_to_qnum (scancode))
        osvdi_qemu_display_key (self->qemu, osvdi_scancode_to_qnum (scancode),
            gst_navigation_event_get_type (event) ==
            GST_NAVIGATION_EVENT_KEY_PRESS);
      else
        GST_DEBUG_OBJECT (self, "no PC scancode for key %s",
            key ? key : "(none)");
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_MOVE:{
      gdouble x, y;
      gint dx = 0, dy = 0;
      gboolean relative = FALSE;

      if (!gst_navigation_event_parse_mouse_move_event (event, &x, &y))
        return FALSE;
      gst_structure_get_boolean (s, "relative", &relative);
      gst_structure_get_int (s, "dx", &dx);
      gst_structure_get_int (s, "dy", &dy);
      osvdi_qemu_display_mouse_move (self->qemu, (gint) x, (gint) y,
          relative, dx, dy);
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS:
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_RELEASE:{
      gint button;
      gdouble x, y;
      /* GstNavigation 1 left, 2 middle, 3 right -> QEMU 0, 1, 2. */
      if (!gst_navigation_event_parse_mouse_button_event (event, &button, &x,
              &y) || button < 1 || button > 3)
        return FALSE;
      osvdi_qemu_display_mouse_button (self->qemu, button - 1,
          gst_navigation_event_get_type (event) ==
          GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS);
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_SCROLL:{
      gdouble x, y, sx, sy;
      guint b;

      if (!gst_navigation_event_parse_mouse_scroll_event (event, &x, &y, &sx,
              &sy) || sy == 0)
        return FALSE;
      /* Wheel as buttons: 3 up, 4 down (delta_y > 0 is up). */
      b = sy > 0 ? 3 : 4;
      osvdi_qemu_display_mouse_button (self->qemu, b, TRUE);
      osvdi_qemu_display_mouse_button (self->qemu, b, FALSE);
      return TRUE;
    }
    default:
      return FALSE;
  }
}

static GstFlowReturn
vfio_create (GstVfioDmabufSrc * self, GstBuffer ** outbuf)
{
  GError *error = NULL;
  OsvdiPlane plane;
  GstFlowReturn ret;
  GstMemory *mem;
  GstBuffer *buf;
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
  gint stride[GST_VIDEO_MAX_PLANES] = { 0 };

  for (;;) {
    ret = wait_tick (self);
    if (ret != GST_FLOW_OK)
      return ret;
    if (!osvdi_vfio_query_primary (self->device->dev, self->kind, &plane,
            &error))
      goto query_failed;
    if (plane.drm_format && plane.width && plane.height)
      break;
    /* No mode yet (or the display was disabled): keep polling. */
    if (!self->waiting_posted) {
      self->waiting_posted = TRUE;
      GST_INFO_OBJECT (self, "waiting for the guest to set a display mode");
      gst_element_post_message (GST_ELEMENT (self),
          gst_message_new_element (GST_OBJECT (self),
              gst_structure_new_empty ("vfiodmabufsrc/waiting-for-display")));
    }
    self->next_time += frame_duration (self);
  }
  self->waiting_posted = FALSE;

  if (!self->have_plane || plane.drm_format != self->plane.drm_format
      || plane.width != self->plane.width
      || plane.height != self->plane.height
      || plane.stride != self->plane.stride
      || plane.modifier != self->plane.modifier) {
    /* A new mode: new caps, in-stream. */
    self->format = osvdi_drm_format_get (plane.drm_format, &error);
    if (!self->format)
      goto bad_format;
    self->plane = plane;
    self->have_plane = TRUE;
    if (!gst_base_src_negotiate (GST_BASE_SRC (self)))
      goto not_negotiated;
  }
  self->plane = plane;

  /* The kernel maps a dmabuf in whole pages of its exported size: one that
   * is not a page multiple (mbochs exports stride x height) reaches an
   * importer fine but cannot be mapped for system memory. */
  if (plane.kind == OSVDI_PLANE_DMABUF && !self->dmabuf_caps
      && plane.size % sysconf (_SC_PAGESIZE))
    goto unmappable;

  mem = plane.kind == OSVDI_PLANE_DMABUF ? dmabuf_memory (self, &error)
      : region_memory (self, &error);
  if (!mem)
    goto no_memory;
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, mem);
  stride[0] = plane.stride;
  /* DMABuf caps imply GstVideoMeta (an importer needs the stride). */
  if (self->video_meta || self->dmabuf_caps)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (&self->info), plane.width, plane.height, 1,
        offset, stride);
  else if ((gint) plane.stride != GST_VIDEO_INFO_PLANE_STRIDE (&self->info, 0))
    buf = copy_to_default_stride (self, buf);

  GST_BUFFER_PTS (buf) = self->next_time;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = frame_duration (self);
  self->next_time += frame_duration (self);
  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
query_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not read the guest's display."), ("%s", error->message));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
bad_format:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
not_negotiated:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Downstream takes neither dmabuf nor system memory %s %ux%u.",
            self->format->video_format, plane.width, plane.height), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
unmappable:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("The guest's %ux%u scanout cannot be mapped into system memory: "
            "the device exports it as a dmabuf of %u bytes, not a whole "
            "number of pages. Use a downstream element that imports dmabufs "
            "(vapostproc, vah264enc), or a guest pitch that pads it.",
            plane.width, plane.height, plane.size),
        ("stride %u, page size %ld", plane.stride, sysconf (_SC_PAGESIZE)));
    return GST_FLOW_ERROR;
  }
no_memory:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not map the guest's display."), ("%s", error->message));
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn
gst_vfio_dmabuf_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (psrc);
  GstFlowReturn ret;

  if (!self->have_plane)
    self->fps_n = DEFAULT_MAX_FPS, self->fps_d = 1;
  ret = self->qemu ? qemu_create (self, outbuf) : vfio_create (self, outbuf);
  if (ret == GST_FLOW_OK) {
    guint64 copies = self->qemu ?
        osvdi_qemu_display_mirror_copies (self->qemu) : 0;

    GST_OBJECT_LOCK (self);
    self->frames_out++;
    self->mirror_copies = copies;
    GST_OBJECT_UNLOCK (self);
  }
  return ret;
}

static GstStructure *
gst_vfio_dmabuf_src_get_stats (GstVfioDmabufSrc * self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("vfiodmabufsrc-stats",
      "frames", G_TYPE_UINT64, self->frames_out,
      "mirror-copies", G_TYPE_UINT64, self->mirror_copies, NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

/* ------------------------------------------------------------------------ */

static void
gst_vfio_dmabuf_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MDEV:
      g_free (self->mdev);
      self->mdev = g_value_dup_string (value);
      break;
    case PROP_DEVICE_FD:
      self->device_fd = g_value_get_int (value);
      break;
    case PROP_QEMU_DISPLAY_FD:
      self->qemu_display_fd = g_value_get_int (value);
      break;
    case PROP_DOMAIN:
      g_free (self->domain);
      self->domain = g_value_dup_string (value);
      break;
    case PROP_LIBVIRT_URI:
      g_free (self->libvirt_uri);
      self->libvirt_uri = g_value_dup_string (value);
      break;
    case PROP_ON_DISCONNECT:
      self->on_disconnect = g_value_get_enum (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      self->connect_timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vfio_dmabuf_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MDEV:
      g_value_set_string (value, self->mdev);
      break;
    case PROP_DEVICE_FD:
      g_value_set_int (value, self->device_fd);
      break;
    case PROP_QEMU_DISPLAY_FD:
      g_value_set_int (value, self->qemu_display_fd);
      break;
    case PROP_DOMAIN:
      g_value_set_string (value, self->domain);
      break;
    case PROP_LIBVIRT_URI:
      g_value_set_string (value, self->libvirt_uri);
      break;
    case PROP_ON_DISCONNECT:
      g_value_set_enum (value, self->on_disconnect);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_uint (value, self->connect_timeout);
      break;
    case PROP_STATS:
      GST_OBJECT_UNLOCK (self);
      g_value_take_boxed (value, gst_vfio_dmabuf_src_get_stats (self));
      return;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vfio_dmabuf_src_finalize (GObject * object)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (object);

  g_free (self->mdev);
  g_free (self->domain);
  g_free (self->libvirt_uri);
  g_mutex_clear (&self->qemu_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_vfio_dmabuf_src_init (GstVfioDmabufSrc * self)
{
  self->device_fd = DEFAULT_DEVICE_FD;
  self->qemu_display_fd = DEFAULT_QEMU_DISPLAY_FD;
  self->on_disconnect = DEFAULT_ON_DISCONNECT;
  self->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  self->fps_n = DEFAULT_MAX_FPS;
  self->fps_d = 1;
  g_mutex_init (&self->qemu_lock);
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

static void
gst_vfio_dmabuf_src_class_init (GstVfioDmabufSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_vfio_dmabuf_src_set_property;
  gobject_class->get_property = gst_vfio_dmabuf_src_get_property;
  gobject_class->finalize = gst_vfio_dmabuf_src_finalize;

  /**
   * GstVfioDmabufSrc:mdev:
   *
   * UUID of the mediated device to open (its VFIO group must be free).
   */
  properties[PROP_MDEV] = g_param_spec_string ("mdev", "mdev",
      "UUID of the mediated device to capture", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:device-fd:
   *
   * An already-open VFIO device fd to use instead of #GstVfioDmabufSrc:mdev
   * (a group opens only once: the process holding it hands the fd over).
   * It stays the caller's: the element does not close it.
   */
  properties[PROP_DEVICE_FD] = g_param_spec_int ("device-fd", "Device fd",
      "Open VFIO device fd to adopt (-1: open mdev)", -1, G_MAXINT,
      DEFAULT_DEVICE_FD,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:qemu-display-fd:
   *
   * A peer-to-peer D-Bus connection to QEMU's display (`-display dbus`;
   * libvirt's `<graphics type='dbus' p2p='yes'/>` hands one out with
   * virDomainOpenGraphicsFD, QEMU's QMP with `add_client` protocol
   * `@dbus-display`). The production provider where QEMU owns the mdev: the
   * element mirrors console 0 (QEMU's pixel updates applied to a mirror
   * that frames share read-only, or a GL scanout's dmabuf passed through),
   * pushes a frame only
   * when the console changed (or a keyframe was asked for), and sends
   * GstNavigation input into the VM. The element duplicates the fd; it
   * stays the caller's.
   */
  properties[PROP_QEMU_DISPLAY_FD] = g_param_spec_int ("qemu-display-fd",
      "QEMU display fd", "D-Bus connection to QEMU's display (-1: none)", -1,
      G_MAXINT, DEFAULT_QEMU_DISPLAY_FD,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:domain:
   *
   * A libvirt domain (name or UUID) whose QEMU display to capture: the
   * element asks libvirt for a connection to it (virDomainOpenGraphicsFD)
   * at each start, as #GstVfioDmabufSrc:qemu-display-fd would be handed
   * one. The domain needs `<graphics type='dbus' p2p='yes'/>`. QEMU serves
   * one display client: this takes the display from any other (such as
   * osvdi-launcher's pipeline for the same VM).
   */
  properties[PROP_DOMAIN] = g_param_spec_string ("domain", "Domain",
      "libvirt domain (name or UUID) whose QEMU D-Bus display to capture",
      NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:libvirt-uri:
   *
   * Where #GstVfioDmabufSrc:domain lives, e.g. `qemu:///system`; NULL for
   * libvirt's default (`LIBVIRT_DEFAULT_URI`, else `qemu:///system` as
   * root).
   */
  properties[PROP_LIBVIRT_URI] = g_param_spec_string ("libvirt-uri",
      "libvirt URI", "libvirt connection URI for \"domain\" (NULL: "
      "libvirt's default)", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:on-disconnect:
   *
   * What the stream does when QEMU's display connection ends (the VM shut
   * down or was destroyed): end of stream, or an error.
   */
  properties[PROP_ON_DISCONNECT] = g_param_spec_enum ("on-disconnect",
      "On disconnect", "When QEMU's display goes away: eos or error",
      GST_TYPE_VFIO_DMABUF_SRC_ON_DISCONNECT, DEFAULT_ON_DISCONNECT,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:connect-timeout:
   *
   * Seconds QEMU's display (#GstVfioDmabufSrc:qemu-display-fd,
   * #GstVfioDmabufSrc:domain) has to answer the D-Bus handshake and show
   * its console. The element connects in the background: the state change
   * returns at once, and a peer that does not answer in time is an error
   * ("QEMU's display on fd 7 did not answer within 10 s"). Stopping the
   * element cancels a connection still being made.
   */
  properties[PROP_CONNECT_TIMEOUT] = g_param_spec_uint ("connect-timeout",
      "Connect timeout", "Seconds QEMU's display has to answer", 1, 3600,
      DEFAULT_CONNECT_TIMEOUT,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:stats:
   *
   * frames (pushed since the element was made) and mirror-copies (QEMU's
   * display without GL: how often a change found the previous frame still
   * held downstream and the mirror was copied first; 0 when downstream lets
   * go of frames in time).
   */
  properties[PROP_STATS] = g_param_spec_boxed ("stats", "Statistics",
      "frames, mirror-copies", GST_TYPE_STRUCTURE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (gobject_class, N_PROPERTIES, properties);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "VFIO mdev display source", "Source/Video",
      "Captures a VM's framebuffer from a mediated device's VFIO display, "
      "as dmabufs", "OSVDI developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_unlock);
  basesrc_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_unlock_stop);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_negotiate);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_query);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_event);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_vfio_dmabuf_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_VFIO_DMABUF_SRC_ON_DISCONNECT, 0);

  GST_DEBUG_CATEGORY_INIT (gst_vfio_dmabuf_src_debug, "vfiodmabufsrc", 0,
      "VFIO mdev display source");
}
