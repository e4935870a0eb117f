/* OSVDI host - DRM fourccs of VFIO display planes
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-drm-format.h"

#include <drm_fourcc.h>

G_DEFINE_QUARK (osvdi-drm-format-error-quark, osvdi_drm_format_error);

/* DRM formats are little-endian words: XRGB8888 is B, G, R, X in memory,
 * which GStreamer calls BGRx. */
static const OsvdiDrmFormat formats[] = {
  {DRM_FORMAT_XRGB8888, "BGRx", 4},
  {DRM_FORMAT_ARGB8888, "BGRA", 4},
  {DRM_FORMAT_XBGR8888, "RGBx", 4},
  {DRM_FORMAT_ABGR8888, "RGBA", 4},
  {DRM_FORMAT_RGBX8888, "xBGR", 4},
  {DRM_FORMAT_BGRX8888, "xRGB", 4},
  {DRM_FORMAT_RGB565, "RGB16", 2},
  {DRM_FORMAT_BGR565, "BGR16", 2},
  {DRM_FORMAT_RGB888, "BGR", 3},
  {DRM_FORMAT_BGR888, "RGB", 3},
};

const OsvdiDrmFormat *
osvdi_drm_format_lookup (guint32 fourcc)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++)
    if (formats[i].fourcc == fourcc)
      return &formats[i];
  return NULL;
}

void
osvdi_drm_fourcc_to_string (guint32 fourcc, gchar out[5])
{
  guint i;

  for (i = 0; i < 4; i++) {
    gchar c = (fourcc >> (8 * i)) & 0xff;

    out[i] = g_ascii_isprint (c) ? c : '?';
  }
  out[4] = '\0';
}

const OsvdiDrmFormat *
osvdi_drm_format_get (guint32 fourcc, GError ** error)
{
  const OsvdiDrmFormat *f = osvdi_drm_format_lookup (fourcc);
  gchar name[5];

  if (!f) {
    osvdi_drm_fourcc_to_string (fourcc, name);
    g_set_error (error, OSVDI_DRM_FORMAT_ERROR, 0,
        "the guest's display uses DRM format %s (0x%08x), which OSVDI "
        "cannot carry", name, fourcc);
  }
  return f;
}
