/* OSVDI host - DRM fourccs of VFIO display planes
 * SPDX-License-Identifier: Apache-2.0
 *
 * Plain C, no GStreamer: the element maps the format name it returns to a
 * GstVideoFormat with gst_video_format_from_string().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint32 fourcc;               /* DRM_FORMAT_* */
  const gchar *video_format;    /* GStreamer's name for the same bytes */
  guint bytes_per_pixel;
} OsvdiDrmFormat;

/* The entry for @fourcc, or NULL when OSVDI cannot carry it. */
const OsvdiDrmFormat *osvdi_drm_format_lookup (guint32 fourcc);

/* "XR24" for DRM_FORMAT_XRGB8888; non-printable bytes as '?'. */
void osvdi_drm_fourcc_to_string (guint32 fourcc, gchar out[5]);

#define OSVDI_DRM_FORMAT_ERROR (osvdi_drm_format_error_quark ())
GQuark osvdi_drm_format_error_quark (void);

/* Like lookup, but an unknown fourcc is an error that names it. */
const OsvdiDrmFormat *osvdi_drm_format_get (guint32 fourcc, GError ** error);

G_END_DECLS
