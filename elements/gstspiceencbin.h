/* OSVDI - spiceencbin
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SPICE_ENC_BIN (gst_spice_enc_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceEncBin, gst_spice_enc_bin, GST, SPICE_ENC_BIN,
    GstBin);

GST_ELEMENT_REGISTER_DECLARE (spiceencbin);

G_END_DECLS
