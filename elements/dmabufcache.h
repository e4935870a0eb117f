/* OSVDI - vfiodmabufsrc's dmabuf wrappers, one per buffer, reused
 * SPDX-License-Identifier: Apache-2.0
 *
 * Downstream importers (vapostproc, CUDA upload) cache their import by
 * GstMemory: a source that wraps the same dmabuf anew for every frame makes
 * them import every frame. So each dmabuf is wrapped once, keyed by what
 * names it for its provider (a VFIO dmabuf id, a QEMU scanout), and the
 * wrapper is handed out again until the key changes. A wrapper owns a
 * duplicate of the provider's fd: the provider may close its own.
 *
 * Streaming thread only (start()/stop() make and free it).
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define OSVDI_DMABUF_CACHE_ERROR (osvdi_dmabuf_cache_error_quark ())
GQuark osvdi_dmabuf_cache_error_quark (void);

typedef enum
{
  /* System memory caps, but the dmabuf cannot be mapped: its size is no
   * whole number of pages. */
  OSVDI_DMABUF_CACHE_ERROR_UNMAPPABLE,
  /* Not linear, and GStreamer (1.22) has no caps for it. */
  OSVDI_DMABUF_CACHE_ERROR_TILED,
  /* dup() failed; errno in the text. */
  OSVDI_DMABUF_CACHE_ERROR_FAILED,
} OsvdiDmabufCacheError;

typedef struct _OsvdiDmabufCache OsvdiDmabufCache;

/* Keeps at most @max wrappers (a full cache starts again). */
OsvdiDmabufCache *osvdi_dmabuf_cache_new (guint max);
/* Wrappers still downstream stay valid. */
void osvdi_dmabuf_cache_free (OsvdiDmabufCache * cache);

/* The wrapper of @key (a new reference), made from a duplicate of @fd on
 * first sight. @mapped: downstream maps it (system memory caps), so its
 * @size must be whole pages. @modifier other than linear is refused where
 * GStreamer cannot describe it (1.22). */
GstMemory *osvdi_dmabuf_cache_get (OsvdiDmabufCache * cache, guint64 key,
    gint fd, gsize size, guint64 modifier, gboolean mapped, GError ** error);

/* How many wrappers were made (stats, tests). */
guint64 osvdi_dmabuf_cache_wrapped (OsvdiDmabufCache * cache);

G_END_DECLS
