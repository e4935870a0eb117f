/* OSVDI - helpers of the gst-check suites that watch a real SPICE client
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/check/gstcheck.h>
#include "osvdi-test-client.h"

/* A lossy codec's error on a flat colour. */
#define LOSSY_TOLERANCE 40

/* The top bars of videotestsrc's SMPTE pattern (100 % bars). */
static const guint32 smpte_bars[7] = {
  0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff
};

/* Waits (@ms each) until @client shows every top SMPTE bar of a @width x
 * @height picture; fails naming the first that does not come. */
static inline void
osvdi_test_check_smpte (OsvdiTestClient * client, gint width, gint height,
    guint ms)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (smpte_bars); i++) {
    gint x = (2 * i + 1) * width / 14, y = height / 3;
    guint32 rgb = 0;

    if (!osvdi_test_client_wait_pixel (client, x, y, smpte_bars[i],
            LOSSY_TOLERANCE, ms)) {
      osvdi_test_client_pixel (client, x, y, &rgb);
      fail ("bar %u at (%d,%d): got %06x, want %06x", i, x, y, rgb,
          smpte_bars[i]);
    }
  }
}
