/* OSVDI - vfiodmabufsrc's dmabuf wrappers, one per buffer, reused
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "dmabufcache.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <gst/allocators/gstdmabuf.h>

G_DEFINE_QUARK (osvdi-dmabuf-cache-error-quark, osvdi_dmabuf_cache_error);

struct _OsvdiDmabufCache
{
  GstAllocator *allocator;
  GHashTable *wrappers;         /* key (guint64 *) -> GstMemory */
  guint max;
  guint64 wrapped;
};

OsvdiDmabufCache *
osvdi_dmabuf_cache_new (guint max)
{
  OsvdiDmabufCache *c = g_new0 (OsvdiDmabufCache, 1);

  c->allocator = gst_dmabuf_allocator_new ();
  c->wrappers = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      (GDestroyNotify) gst_memory_unref);
  c->max = MAX (max, 1);
  return c;
}

void
osvdi_dmabuf_cache_free (OsvdiDmabufCache * c)
{
  if (!c)
    return;
  g_hash_table_unref (c->wrappers);
  gst_object_unref (c->allocator);
  g_free (c);
}

GstMemory *
osvdi_dmabuf_cache_get (OsvdiDmabufCache * c, guint64 key, gint fd,
    gsize size, guint64 modifier, gboolean mapped, GError ** error)
{
  GstMemory *mem;
  gint own;
  off_t real;
  gboolean tiled_ok = FALSE;

#if GST_CHECK_VERSION (1, 24, 0)
  /* DMA_DRM caps carry the modifier to an importer. */
  tiled_ok = !mapped;
#endif
  /* The caps fell back to system memory (on GStreamer 1.22, whose caps
   * carry no modifier, always for a tiled plane): a tiled plane mapped as
   * linear pixels would be garbage. */
  if (modifier != 0 && !tiled_ok) {
    g_set_error (error, OSVDI_DMABUF_CACHE_ERROR,
        OSVDI_DMABUF_CACHE_ERROR_TILED, "DRM modifier 0x%016"
        G_GINT64_MODIFIER "x", modifier);
    return NULL;
  }
  /* The kernel maps a dmabuf in whole pages of its exported size: one that
   * is not a page multiple (mbochs exports stride x height) reaches an
   * importer fine but cannot be mapped for system memory. */
  if (mapped && size % sysconf (_SC_PAGESIZE)) {
    g_set_error (error, OSVDI_DMABUF_CACHE_ERROR,
        OSVDI_DMABUF_CACHE_ERROR_UNMAPPABLE, "a dmabuf of %" G_GSIZE_FORMAT
        " bytes, page size %ld", size, sysconf (_SC_PAGESIZE));
    return NULL;
  }

  mem = g_hash_table_lookup (c->wrappers, &key);
  if (mem)
    return gst_memory_ref (mem);

  /* The plane's size is what the guest's side claims; the dmabuf knows its
   * own (lseek to its end): a claim beyond it would have every reader fault
   * past the buffer's last page. */
  real = lseek (fd, 0, SEEK_END);
  if (real >= 0 && (guint64) real < size) {
    g_set_error (error, OSVDI_DMABUF_CACHE_ERROR,
        OSVDI_DMABUF_CACHE_ERROR_FAILED, "the plane claims %" G_GSIZE_FORMAT
        " bytes of a dmabuf of %" G_GINT64_FORMAT, size, (gint64) real);
    return NULL;
  }
  own = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) {
    g_set_error (error, OSVDI_DMABUF_CACHE_ERROR,
        OSVDI_DMABUF_CACHE_ERROR_FAILED, "dup() of dmabuf fd %d: %s", fd,
        g_strerror (errno));
    return NULL;
  }
  if (g_hash_table_size (c->wrappers) >= c->max)
    g_hash_table_remove_all (c->wrappers);
  mem = gst_dmabuf_allocator_alloc (c->allocator, own, size);
  g_hash_table_insert (c->wrappers, g_memdup2 (&key, sizeof (key)), mem);
  c->wrapped++;
  return gst_memory_ref (mem);
}

guint64
osvdi_dmabuf_cache_wrapped (OsvdiDmabufCache * c)
{
  return c->wrapped;
}
