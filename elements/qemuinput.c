/* OSVDI - GstNavigation events as QEMU's keyboard and mouse input
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "qemuinput.h"
#include "osvdikeys.h"

#include <math.h>
#include <string.h>
#include <gst/video/navigation.h>

/* A pointer position as QEMU's int. Any upstream element may send a
 * navigation event, and one with NaN, infinity or 1e300 for a coordinate
 * made the plain (gint) cast undefined behaviour (fuzz-navigation): NaN is
 * 0, anything else is clamped, to half an int so that the display's
 * relative motion (the difference of two positions) cannot overflow
 * either. */
static gint
position (gdouble v)
{
  if (isnan (v))
    return 0;
  return (gint) CLAMP (v, -(G_MAXINT / 2), G_MAXINT / 2);
}

gboolean
qemu_input_from_navigation (GstEvent * event, QemuInput * out)
{
  const GstStructure *s = gst_event_get_structure (event);

  memset (out, 0, sizeof (*out));
  switch (gst_navigation_event_get_type (event)) {
    case GST_NAVIGATION_EVENT_KEY_PRESS:
    case GST_NAVIGATION_EVENT_KEY_RELEASE:{
      guint scancode = 0;

      if (!gst_structure_get_uint (s, "scancode", &scancode)
          && gst_navigation_event_parse_key_event (event, &out->key))
        scancode = osvdi_key_name_to_scancode (out->key);
      out->kind = QEMU_INPUT_KEY;
      out->code = osvdi_scancode_to_qnum (scancode);
      out->pressed = gst_navigation_event_get_type (event) ==
          GST_NAVIGATION_EVENT_KEY_PRESS;
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_MOVE:{
      gdouble x, y;

      if (!gst_navigation_event_parse_mouse_move_event (event, &x, &y))
        return FALSE;
      out->kind = QEMU_INPUT_MOVE;
      gst_structure_get_boolean (s, "relative", &out->have_delta);
      gst_structure_get_int (s, "dx", &out->dx);
      gst_structure_get_int (s, "dy", &out->dy);
      out->x = position (x);
      out->y = position (y);
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS:
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_RELEASE:{
      gint button;
      gdouble x, y;
      /* GstNavigation 1 left, 2 middle, 3 right -> QEMU 0, 1, 2. */
      if (!gst_navigation_event_parse_mouse_button_event (event, &button, &x,
              &y) || button < 1 || button > 3)
        return FALSE;
      out->kind = QEMU_INPUT_BUTTON;
      out->code = button - 1;
      out->pressed = gst_navigation_event_get_type (event) ==
          GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS;
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_MOUSE_SCROLL:{
      gdouble x, y, sx, sy;

      if (!gst_navigation_event_parse_mouse_scroll_event (event, &x, &y, &sx,
              &sy) || sy == 0)
        return FALSE;
      /* Wheel as buttons: 3 up, 4 down (delta_y > 0 is up). */
      out->kind = QEMU_INPUT_WHEEL;
      out->code = sy > 0 ? 3 : 4;
      return TRUE;
    }
    default:
      return FALSE;
  }
}
