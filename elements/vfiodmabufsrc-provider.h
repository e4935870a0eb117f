/* OSVDI - vfiodmabufsrc's providers: where the frames come from
 * SPDX-License-Identifier: Apache-2.0
 *
 * The element (gstvfiodmabufsrc.c) keeps properties, lifecycle, caps, clock
 * pacing and buffers; a provider opens the capture and hands over frame
 * descriptions:
 * - vfioprovider.c: the mdev's VFIO display, queried directly (mdev=,
 *   device-fd=);
 * - qemuprovider.c: QEMU's D-Bus display (qemu-display-fd=, domain=), which
 *   also takes the VM's input.
 *
 * Threads: open, stop and next_frame run on the element's start()/stop()
 * and streaming threads, never at the same time; unlock, unlock_stop,
 * input and want_keyframe come from other threads, and the element holds
 * its provider lock across them (stop() takes it to clear the provider
 * first), so a provider never sees a call after or during its stop.
 */
#pragma once

#include <gst/base/gstbasesrc.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_vfio_dmabuf_src_debug);

typedef struct _VfioSrcProvider VfioSrcProvider;

/* What the caps describe: a change renegotiates. */
typedef struct
{
  gboolean dmabuf;              /* a dmabuf, else system memory */
  guint32 fourcc;               /* DRM fourcc */
  guint64 modifier;             /* DRM modifier (dmabufs) */
  guint width, height, stride;
} VfioSrcFormat;

typedef struct
{
  VfioSrcFormat format;
  gboolean y0_top;              /* FALSE: stored bottom-up (GL) */

  /* dmabuf frames: @fd is the provider's, valid until its next next_frame()
   * or stop(); the element's wrapper cache keeps a duplicate per @key (the
   * same key is the same buffer: a VFIO dmabuf id, a QEMU scanout). */
  gint fd;
  guint64 key;
  gsize size;

  /* memory frames: the pixels, the frame's (the element takes it). */
  GstMemory *memory;

  /* Called once the buffer made of this frame is freed, or the frame is
   * dropped (any thread); NULL if nothing waits for that. */
  GDestroyNotify done;
  gpointer done_data;
} VfioSrcFrame;

typedef enum
{
  VFIO_SRC_FRAME_OK,            /* the frame is filled */
  VFIO_SRC_FRAME_NO_DISPLAY,    /* nothing shown yet: ask at the next tick */
  VFIO_SRC_FRAME_UNCHANGED,     /* nothing new: ask again at once */
  VFIO_SRC_FRAME_FLUSHING,      /* unlock() */
  VFIO_SRC_FRAME_EOS,           /* the capture ended */
  VFIO_SRC_FRAME_ERROR,         /* the provider posted an error */
} VfioSrcFrameResult;

/* What a provider copies (the element's stats). */
typedef struct
{
  guint64 mirror_copies;        /* a change found the last frame held */
  guint64 map_snapshots;        /* frames copied out of QEMU's shared map */
  guint64 map_held_writes;      /* QEMU drew into a map frame still held */
  gboolean shared_map;          /* frames are QEMU's own memory */
} VfioSrcCopyStats;

typedef struct
{
  const gchar *name;
  /* Frames come when the screen changed (damage), stamped with their
   * capture time; else one per tick, stamped with the tick. */
  gboolean damage_driven;
  /* How many dmabufs the element keeps wrapped at once. */
  guint max_wrappers;

  /* Closes the capture and frees the provider. */
  void (*stop) (VfioSrcProvider * provider);
  /* The next frame, after the element's tick; may wait (interruptibly). */
  VfioSrcFrameResult (*next_frame) (VfioSrcProvider * provider,
      VfioSrcFrame * frame);
  /* Optional: wake a waiting next_frame() with FLUSHING, until unlock_stop. */
  void (*unlock) (VfioSrcProvider * provider);
  void (*unlock_stop) (VfioSrcProvider * provider);
  /* Optional: a GstNavigation event for the VM; FALSE if not handled. */
  gboolean (*input) (VfioSrcProvider * provider, GstEvent * event);
  /* Optional: make the next frame come even on a still screen. */
  void (*want_keyframe) (VfioSrcProvider * provider);
  /* Optional: how often a frame had to be copied (stats). */
  void (*copy_stats) (VfioSrcProvider * provider, VfioSrcCopyStats * stats);
} VfioSrcProviderClass;

struct _VfioSrcProvider
{
  const VfioSrcProviderClass *klass;
  GstBaseSrc *src;              /* the element (no reference: it owns us) */
  guint still_interval_ms;      /* the element's still-interval, 0: off */
};

/* Opening posts an error on @src and returns NULL when it fails. */
VfioSrcProvider *vfio_src_vfio_provider_open (GstBaseSrc * src,
    const gchar * mdev, gint device_fd);

typedef enum
{
  VFIO_SRC_ON_DISCONNECT_EOS,
  VFIO_SRC_ON_DISCONNECT_ERROR,
} VfioSrcOnDisconnect;

/* @fd, or libvirt's connection to @domain's display (@fd -1; @uri may be
 * NULL). @timeout_s: connect-timeout. */
VfioSrcProvider *vfio_src_qemu_provider_open (GstBaseSrc * src, gint fd,
    const gchar * uri, const gchar * domain, guint timeout_s,
    VfioSrcOnDisconnect on_disconnect);

/* Implemented by the element, for its providers. */

/* An opening failure as the RESOURCE error a user can act on: not found,
 * busy, or a setting to change. */
void vfio_src_post_open_error (GstBaseSrc * src, const GError * error);
/* The guest shows nothing yet: the element says so once (an element message
 * vfiodmabufsrc/waiting-for-display), until a frame comes. Streaming
 * thread. */
void vfio_src_waiting_for_display (GstBaseSrc * src);

G_END_DECLS
