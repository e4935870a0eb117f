/* OSVDI - spicesink
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_SPICE_SINK (gst_spice_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceSink, gst_spice_sink, GST, SPICE_SINK,
    GstBaseSink);

GST_ELEMENT_REGISTER_DECLARE (spicesink);

G_END_DECLS
