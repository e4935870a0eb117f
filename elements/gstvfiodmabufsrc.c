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
#include "vfiodmabufsrc-provider.h"
#include "dmabufcache.h"
#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-drm-format.h"
#ifdef HAVE_LIBVIRT
#include "osvdi-libvirt.h"
#endif

#include <string.h>
#include <gst/video/video.h>
#include <gst/allocators/gstdmabuf.h>

GST_DEBUG_CATEGORY (gst_vfio_dmabuf_src_debug);
#define GST_CAT_DEFAULT gst_vfio_dmabuf_src_debug

#define DEFAULT_DEVICE_FD -1
#define DEFAULT_QEMU_DISPLAY_FD -1
#define DEFAULT_ON_DISCONNECT GST_VFIO_DMABUF_SRC_ON_DISCONNECT_EOS
#define DEFAULT_CONNECT_TIMEOUT 10
#define DEFAULT_STILL_INTERVAL 0
#define DEFAULT_MAX_FPS 60

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
  PROP_STILL_INTERVAL,
  PROP_STATS,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

/* The providers' VfioSrcOnDisconnect, as a GType. */
typedef enum
{
  GST_VFIO_DMABUF_SRC_ON_DISCONNECT_EOS = VFIO_SRC_ON_DISCONNECT_EOS,
  GST_VFIO_DMABUF_SRC_ON_DISCONNECT_ERROR = VFIO_SRC_ON_DISCONNECT_ERROR,
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
  guint still_interval;         /* ms; 0: frames on change only */
  guint64 frames_out;           /* stats */
  VfioSrcCopyStats copies;

  /* Where frames come from. Set in start() and cleared in stop() under
   * provider_lock, which event(), unlock() and unlock_stop() (other
   * threads) hold while they use it; the streaming thread needs no lock
   * (it does not run across start()/stop()). Order: provider_lock, then
   * the provider's own locks; GST_OBJECT_LOCK is never taken inside it. */
  GMutex provider_lock;
  VfioSrcProvider *provider;

  /* Streaming state: the streaming thread, and start()/stop(). */
  OsvdiDmabufCache *wrappers;
  VfioSrcFormat fmt;            /* the frames the caps describe */
  gboolean have_format;
  const OsvdiDrmFormat *drm;
  GstVideoInfo info;
  gboolean dmabuf_caps;
  gboolean video_meta;
  gint fps_n, fps_d;
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

static GstClockTime
frame_duration (GstVfioDmabufSrc * self)
{
  return gst_util_uint64_scale_int (GST_SECOND, self->fps_d, self->fps_n);
}

/* ------------------------------------------------------------------------ */
/* For the providers. */

void
vfio_src_post_open_error (GstBaseSrc * src, const GError * error)
{
  if (g_error_matches (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_BUSY))
    GST_ELEMENT_ERROR (src, RESOURCE, BUSY, ("%s", error->message), (NULL));
  else if (g_error_matches (error, OSVDI_MDEV_ERROR,
          OSVDI_MDEV_ERROR_NOT_FOUND)
      || g_error_matches (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_NOT_FOUND)
#ifdef HAVE_LIBVIRT
      || g_error_matches (error, OSVDI_LIBVIRT_ERROR,
          OSVDI_LIBVIRT_ERROR_NOT_FOUND)
#endif
      )
    GST_ELEMENT_ERROR (src, RESOURCE, NOT_FOUND, ("%s", error->message),
        (NULL));
#ifdef HAVE_LIBVIRT
  else if (g_error_matches (error, OSVDI_LIBVIRT_ERROR,
          OSVDI_LIBVIRT_ERROR_NO_DISPLAY))
    GST_ELEMENT_ERROR (src, RESOURCE, SETTINGS, ("%s", error->message),
        (NULL));
#endif
  else
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ_WRITE,
        ("%s", error->message), (NULL));
}

void
vfio_src_waiting_for_display (GstBaseSrc * src)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (src);

  if (self->waiting_posted)
    return;
  self->waiting_posted = TRUE;
  GST_INFO_OBJECT (self, "waiting for the guest to show a display");
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new_empty ("vfiodmabufsrc/waiting-for-display")));
}

/* ------------------------------------------------------------------------ */
/* Lifecycle. */

static gboolean
gst_vfio_dmabuf_src_start (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  VfioSrcProvider *provider;
  gchar *mdev, *domain, *uri;
  gint fd, qemu_fd;
  GstVfioDmabufSrcOnDisconnect on_disconnect;
  guint timeout, still;

  GST_OBJECT_LOCK (self);
  mdev = g_strdup (self->mdev);
  fd = self->device_fd;
  qemu_fd = self->qemu_display_fd;
  domain = g_strdup (self->domain);
  uri = g_strdup (self->libvirt_uri);
  on_disconnect = self->on_disconnect;
  timeout = self->connect_timeout;
  still = self->still_interval;
  GST_OBJECT_UNLOCK (self);

  if ((mdev != NULL) + (fd >= 0) + (qemu_fd >= 0) + (domain != NULL) != 1
      || (uri && !domain))
    goto bad_settings;

  self->have_format = FALSE;
  self->next_time = GST_CLOCK_TIME_NONE;
  self->waiting_posted = FALSE;
  if (qemu_fd >= 0 || domain)
    provider = vfio_src_qemu_provider_open (bsrc, qemu_fd, uri, domain,
        timeout, (VfioSrcOnDisconnect) on_disconnect);
  else
    provider = vfio_src_vfio_provider_open (bsrc, mdev, fd);
  g_free (mdev);
  g_free (domain);
  g_free (uri);
  if (!provider)
    return FALSE;
  provider->still_interval_ms = still;
  self->wrappers = osvdi_dmabuf_cache_new (provider->klass->max_wrappers);
  g_mutex_lock (&self->provider_lock);
  self->provider = provider;
  g_mutex_unlock (&self->provider_lock);
  return TRUE;

  /* ERRORS */
bad_settings:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set exactly one of \"mdev\", \"device-fd\", "
            "\"qemu-display-fd\" and \"domain\" (\"libvirt-uri\" goes "
            "with \"domain\")."), (NULL));
    g_free (mdev);
    g_free (domain);
    g_free (uri);
    return FALSE;
  }
}

static gboolean
gst_vfio_dmabuf_src_stop (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  VfioSrcProvider *provider;

  g_mutex_lock (&self->provider_lock);
  provider = g_steal_pointer (&self->provider);
  g_mutex_unlock (&self->provider_lock);
  if (provider)
    provider->klass->stop (provider);
  /* Wrappers still downstream stay valid. */
  g_clear_pointer (&self->wrappers, osvdi_dmabuf_cache_free);
  self->have_format = FALSE;
  return TRUE;
}

static gboolean
gst_vfio_dmabuf_src_unlock (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  /* GStreamer 1.26 also unlocks a live source's create() on PLAYING ->
   * PAUSED. create() would return FLUSHING, basesrc's loop would pause the
   * streaming task, and the PAUSED -> PLAYING that follows may restart the
   * task before that pause: the task then stays paused in PLAYING, and no
   * frame ever goes out again (seen on 1.26.2 in the stress test, one run in
   * ten). A pause needs no unlock here: create() blocks for a tick or 200 ms
   * at most, and basesrc holds what it returns until PLAYING. Flushes and
   * stops (PAUSED -> READY) still unlock. */
  if (GST_STATE (self) == GST_STATE_PLAYING
      && GST_STATE_NEXT (self) == GST_STATE_PAUSED) {
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "PLAYING -> PAUSED: create() left running");
    return TRUE;
  }
  self->flushing = TRUE;
  if (self->clock_id)
    gst_clock_id_unschedule (self->clock_id);
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&self->provider_lock);
  if (self->provider && self->provider->klass->unlock)
    self->provider->klass->unlock (self->provider);
  g_mutex_unlock (&self->provider_lock);
  return TRUE;
}

static gboolean
gst_vfio_dmabuf_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  self->flushing = FALSE;
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&self->provider_lock);
  if (self->provider && self->provider->klass->unlock_stop)
    self->provider->klass->unlock_stop (self->provider);
  g_mutex_unlock (&self->provider_lock);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Caps. */

static GstCaps *
format_caps (GstVfioDmabufSrc * self, gboolean dmabuf)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, self->drm->video_format,
      "width", G_TYPE_INT, (gint) self->fmt.width,
      "height", G_TYPE_INT, (gint) self->fmt.height,
      "framerate", GST_TYPE_FRACTION_RANGE, 1, 1, DEFAULT_MAX_FPS, 1, NULL);

  if (dmabuf) {
#if GST_CHECK_VERSION (1, 24, 0)
    gchar *drm = gst_video_dma_drm_fourcc_to_string (self->fmt.fourcc,
        self->fmt.modifier);

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
  if (!self->fmt.dmabuf)
    return FALSE;
#if GST_CHECK_VERSION (1, 24, 0)
  return TRUE;
#else
  return self->fmt.modifier == 0;
#endif
}

static gboolean
gst_vfio_dmabuf_src_negotiate (GstBaseSrc * bsrc)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  GstCaps *peer, *want, *caps = NULL;
  GstStructure *s;
  gboolean ok;

  /* Nothing to describe before the guest shows something: create()
   * negotiates as soon as it does. */
  if (!self->have_format)
    return TRUE;

  peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (bsrc), NULL);
  if (dmabuf_caps_possible (self)) {
    want = format_caps (self, TRUE);
    caps = gst_caps_intersect (peer, want);
    gst_caps_unref (want);
    if (gst_caps_is_empty (caps))
      gst_clear_caps (&caps);
  }
  if (!caps) {
    want = format_caps (self, FALSE);
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
  gst_structure_get_fraction (gst_caps_get_structure (caps, 0), "framerate",
      &self->fps_n, &self->fps_d);
  self->fps_n = MAX (self->fps_n, 1);
  self->fps_d = MAX (self->fps_d, 1);
  /* The frames' own format, not the caps' (DMA_DRM on 1.24): GstVideoMeta
   * and the stride copy need it. */
  gst_video_info_set_format (&self->info,
      gst_video_format_from_string (self->drm->video_format),
      self->fmt.width, self->fmt.height);
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

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->have_format) {
    /* A frame is ready one frame interval after its tick at the latest. */
    gst_query_set_latency (query, TRUE, frame_duration (self),
        frame_duration (self));
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static gboolean
format_equal (const VfioSrcFormat * a, const VfioSrcFormat * b)
{
  return a->dmabuf == b->dmabuf && a->fourcc == b->fourcc
      && a->modifier == b->modifier && a->width == b->width
      && a->height == b->height && a->stride == b->stride;
}

/* A new mode in the guest: new caps, in-stream. */
static GstFlowReturn
renegotiate (GstVfioDmabufSrc * self, const VfioSrcFrame * frame)
{
  GError *error = NULL;

  self->drm = osvdi_drm_format_get (frame->format.fourcc, &error);
  if (!self->drm)
    goto bad_format;
  self->fmt = frame->format;
  self->have_format = TRUE;
  if (!gst_base_src_negotiate (GST_BASE_SRC (self)))
    goto not_negotiated;
  if (frame->format.dmabuf && !frame->y0_top)
    /* A GL scanout stored bottom-up: say so, videoflip
     * video-direction=auto turns it. */
    gst_pad_push_event (GST_BASE_SRC_PAD (self),
        gst_event_new_tag (gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION,
                "flip-rotate-180", NULL)));
  return GST_FLOW_OK;

  /* ERRORS */
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
            self->drm->video_format, frame->format.width,
            frame->format.height), (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }
}

/* ------------------------------------------------------------------------ */
/* Frames. */

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

static void
frame_clear (VfioSrcFrame * frame)
{
  if (frame->memory)
    gst_memory_unref (frame->memory);
  if (frame->done)
    frame->done (frame->done_data);
  memset (frame, 0, sizeof (*frame));
}

/* Without GstVideoMeta downstream assumes GStreamer's default strides; a
 * frame with others must be copied (rare: linear scanouts are usually
 * packed). */
static GstBuffer *
copy_to_default_stride (GstVfioDmabufSrc * self, GstBuffer * in)
{
  GstBuffer *out = gst_buffer_new_allocate (NULL, self->info.size, NULL);
  GstMapInfo src, dst;
  guint row, bytes = self->fmt.width * self->drm->bytes_per_pixel;

  /* frame_to_buffer checked the plane fits its memory; the map's size is
   * checked again all the same. */
  if (gst_buffer_map (in, &src, GST_MAP_READ)) {
    gst_buffer_map (out, &dst, GST_MAP_WRITE);
    for (row = 0; row < self->fmt.height
        && (gsize) row * self->fmt.stride + bytes <= src.size; row++)
      memcpy (dst.data + row * GST_VIDEO_INFO_PLANE_STRIDE (&self->info, 0),
          src.data + (gsize) row * self->fmt.stride, bytes);
    gst_buffer_unmap (out, &dst);
    gst_buffer_unmap (in, &src);
  }
  gst_buffer_unref (in);
  return out;
}

/* The frame as a buffer: its dmabuf's wrapper or its memory, with a
 * GstVideoMeta where downstream takes one (or a copy to the default
 * stride where it does not). Takes the frame. */
static GstFlowReturn
frame_to_buffer (GstVfioDmabufSrc * self, VfioSrcFrame * frame,
    GstBuffer ** outbuf)
{
  GError *error = NULL;
  GstMemory *mem;
  GstBuffer *buf;
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0 };
  gint stride[GST_VIDEO_MAX_PLANES] = { (gint) frame->format.stride };
  guint64 row_bytes, need, have;

  /* What the guest (through its driver, the mdev or QEMU) says about its
   * plane is input: a stride below a row, or a plane larger than its
   * memory, would have every reader downstream (and our own copy) read
   * past it. */
  row_bytes = (guint64) frame->format.width * self->drm->bytes_per_pixel;
  need = frame->format.height ? (guint64) frame->format.stride *
      (frame->format.height - 1) + row_bytes : 0;
  have = frame->format.dmabuf ? frame->size : frame->memory ?
      gst_memory_get_sizes (frame->memory, NULL, NULL) : 0;
  if (frame->format.stride > G_MAXINT || frame->format.stride < row_bytes
      || need > have)
    goto bad_plane;

  if (frame->format.dmabuf) {
    mem = osvdi_dmabuf_cache_get (self->wrappers, frame->key, frame->fd,
        frame->size, frame->format.modifier, !self->dmabuf_caps, &error);
    if (!mem)
      goto no_wrapper;
  } else {
    mem = g_steal_pointer (&frame->memory);
  }
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, mem);
  if (frame->done) {
    /* Whoever waits for the frame to be done (QEMU) waits for this
     * buffer, not for a copy of it. */
    gst_mini_object_set_qdata (GST_MINI_OBJECT (buf),
        g_quark_from_static_string ("vfiodmabufsrc-frame-done"),
        frame->done_data, frame->done);
    frame->done = NULL;
  }
  /* DMABuf caps imply GstVideoMeta (an importer needs the stride). */
  if (self->video_meta || self->dmabuf_caps)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (&self->info), frame->format.width,
        frame->format.height, 1, offset, stride);
  else if ((gint) frame->format.stride
      != GST_VIDEO_INFO_PLANE_STRIDE (&self->info, 0))
    buf = copy_to_default_stride (self, buf);
  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
bad_plane:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The guest's scanout does not fit its memory: %ux%u with a stride "
            "of %u bytes in %" G_GUINT64_FORMAT " bytes (a broken or hostile "
            "guest display driver).", frame->format.width,
            frame->format.height, frame->format.stride, have),
        ("a row is %" G_GUINT64_FORMAT " bytes; the plane needs %"
            G_GUINT64_FORMAT, row_bytes, need));
    frame_clear (frame);
    return GST_FLOW_ERROR;
  }
no_wrapper:
  {
    if (g_error_matches (error, OSVDI_DMABUF_CACHE_ERROR,
            OSVDI_DMABUF_CACHE_ERROR_UNMAPPABLE))
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("The guest's %ux%u scanout cannot be mapped into system memory: "
              "its dmabuf of %" G_GSIZE_FORMAT " bytes is not a whole "
              "number of pages. Use a downstream element that imports "
              "dmabufs (vapostproc, vah264enc), or a guest pitch that pads "
              "it.", frame->format.width, frame->format.height, frame->size),
          ("stride %u: %s", frame->format.stride, error->message));
    else if (g_error_matches (error, OSVDI_DMABUF_CACHE_ERROR,
            OSVDI_DMABUF_CACHE_ERROR_TILED))
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("The guest's scanout is tiled: it cannot be read as system "
              "memory, and downstream takes no dmabuf in its layout "
              "(GStreamer 1.22 carries no modifiers at all)."), ("%s",
              error->message));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not take the guest's scanout dmabuf."), ("%s",
              error->message));
    g_clear_error (&error);
    frame_clear (frame);
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn
gst_vfio_dmabuf_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (psrc);
  VfioSrcProvider *provider = self->provider;
  VfioSrcFrame frame;
  GstFlowReturn ret;
  GstBuffer *buf;

  if (!self->have_format)
    self->fps_n = DEFAULT_MAX_FPS, self->fps_d = 1;
  for (;;) {
    /* Never faster than the negotiated rate: later changes coalesce. */
    ret = wait_tick (self);
    if (ret != GST_FLOW_OK)
      return ret;
    memset (&frame, 0, sizeof (frame));
    switch (provider->klass->next_frame (provider, &frame)) {
      case VFIO_SRC_FRAME_OK:
        break;
      case VFIO_SRC_FRAME_NO_DISPLAY:
        self->next_time += frame_duration (self);
        continue;
      case VFIO_SRC_FRAME_UNCHANGED:
        /* Nothing to push. Keep the tick from running ahead so the next
         * change goes out at once. */
        self->next_time = GST_CLOCK_TIME_NONE;
        continue;
      case VFIO_SRC_FRAME_FLUSHING:
        return GST_FLOW_FLUSHING;
      case VFIO_SRC_FRAME_EOS:
        return GST_FLOW_EOS;
      case VFIO_SRC_FRAME_ERROR:
        return GST_FLOW_ERROR;
    }
    break;
  }
  self->waiting_posted = FALSE;

  if (!self->have_format || !format_equal (&frame.format, &self->fmt)) {
    ret = renegotiate (self, &frame);
    if (ret != GST_FLOW_OK) {
      frame_clear (&frame);
      return ret;
    }
  }
  ret = frame_to_buffer (self, &frame, &buf);
  if (ret != GST_FLOW_OK)
    return ret;

  if (provider->klass->damage_driven) {
    /* Live and damage-driven: stamp with the capture time. */
    GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));

    if (clock) {
      GstClockTime now = gst_clock_get_time (clock)
          - gst_element_get_base_time (GST_ELEMENT (self));

      GST_BUFFER_PTS (buf) = now;
      self->next_time = now + frame_duration (self);
      gst_object_unref (clock);
    }
  } else {
    GST_BUFFER_PTS (buf) = self->next_time;
    self->next_time += frame_duration (self);
  }
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = frame_duration (self);
  *outbuf = buf;

  {
    VfioSrcCopyStats copies = { 0, };

    if (provider->klass->copy_stats)
      provider->klass->copy_stats (provider, &copies);
    GST_OBJECT_LOCK (self);
    self->frames_out++;
    self->copies = copies;
    GST_OBJECT_UNLOCK (self);
  }
  return GST_FLOW_OK;
}

/* Upstream: a keyframe request becomes a frame even on a still screen;
 * GstNavigation input goes to the VM where the provider takes it. */
static gboolean
gst_vfio_dmabuf_src_event (GstBaseSrc * bsrc, GstEvent * event)
{
  GstVfioDmabufSrc *self = GST_VFIO_DMABUF_SRC (bsrc);
  gboolean handled = FALSE, ret = FALSE;

  if (gst_video_event_is_force_key_unit (event)
      || gst_event_has_name (event, "osvdi/refresh")) {
    g_mutex_lock (&self->provider_lock);
    if (self->provider && self->provider->klass->want_keyframe)
      self->provider->klass->want_keyframe (self->provider);
    g_mutex_unlock (&self->provider_lock);
    return TRUE;
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION) {
    g_mutex_lock (&self->provider_lock);
    if (self->provider && self->provider->klass->input) {
      handled = TRUE;
      GST_LOG_OBJECT (self, "navigation to the provider");
      ret = self->provider->klass->input (self->provider, event);
    }
    g_mutex_unlock (&self->provider_lock);
  }
  if (handled)
    return ret;
  return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);
}

static GstStructure *
gst_vfio_dmabuf_src_get_stats (GstVfioDmabufSrc * self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("vfiodmabufsrc-stats",
      "frames", G_TYPE_UINT64, self->frames_out,
      "mirror-copies", G_TYPE_UINT64, self->copies.mirror_copies,
      "map-snapshots", G_TYPE_UINT64, self->copies.map_snapshots,
      "map-held-writes", G_TYPE_UINT64, self->copies.map_held_writes,
      "shared-map", G_TYPE_BOOLEAN, self->copies.shared_map, NULL);
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
    case PROP_STILL_INTERVAL:
      self->still_interval = g_value_get_uint (value);
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
    case PROP_STILL_INTERVAL:
      g_value_set_uint (value, self->still_interval);
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
  g_mutex_clear (&self->provider_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_vfio_dmabuf_src_init (GstVfioDmabufSrc * self)
{
  self->device_fd = DEFAULT_DEVICE_FD;
  self->qemu_display_fd = DEFAULT_QEMU_DISPLAY_FD;
  self->on_disconnect = DEFAULT_ON_DISCONNECT;
  self->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  self->still_interval = DEFAULT_STILL_INTERVAL;
  self->fps_n = DEFAULT_MAX_FPS;
  self->fps_d = 1;
  g_mutex_init (&self->provider_lock);
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
   * GstVfioDmabufSrc:still-interval:
   *
   * QEMU's display sends frames only when the guest draws. On a still
   * screen, the same picture again after this many milliseconds (0: never,
   * the default). An encoder codes it as a tiny inter frame. Players that
   * buffer need it: spice-html5 plays VP8 through the browser's Media
   * Source Extensions and shows the first picture of a still desktop only
   * once later frames follow (measured: nothing in 120 s with frames on
   * change only). The flavor pipelines that serve browsers set it.
   */
  properties[PROP_STILL_INTERVAL] = g_param_spec_uint ("still-interval",
      "Still interval", "On a still screen, the picture again after this "
      "many ms (0: frames on change only)", 0, 60000, DEFAULT_STILL_INTERVAL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstVfioDmabufSrc:stats:
   *
   * frames (pushed since the element was made), and for QEMU's display
   * without GL (as of the last frame):
   *
   * - mirror-copies: QEMU sends the pixels inside its messages (QEMU < 9.2,
   *   or a surface it cannot share): how often a change found the previous
   *   frame still held downstream and the mirror was copied first; 0 when
   *   downstream lets go of frames in time.
   * - shared-map: TRUE while frames are QEMU's own memory (QEMU >= 9.2,
   *   `org.qemu.Display1.Listener.Unix.Map`, announced by the element):
   *   no copy at all.
   * - map-snapshots: on the shared map, frames copied out because
   *   downstream still held the previous one (QEMU writes its memory
   *   without waiting, so a held frame would change under downstream).
   * - map-held-writes: QEMU drew into a map frame downstream still held
   *   (that frame showed the newer pixels; the next frames are copies).
   */
  properties[PROP_STATS] = g_param_spec_boxed ("stats", "Statistics",
      "frames, mirror-copies, shared-map, map-snapshots, map-held-writes",
      GST_TYPE_STRUCTURE,
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
