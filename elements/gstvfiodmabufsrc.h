/* OSVDI - vfiodmabufsrc
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_VFIO_DMABUF_SRC (gst_vfio_dmabuf_src_get_type ())
G_DECLARE_FINAL_TYPE (GstVfioDmabufSrc, gst_vfio_dmabuf_src, GST,
    VFIO_DMABUF_SRC, GstPushSrc);

GST_ELEMENT_REGISTER_DECLARE (vfiodmabufsrc);

G_END_DECLS
