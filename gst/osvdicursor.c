/* OSVDI - cursor events from a capture source to spicesink
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdicursor.h"

GstEvent *
osvdi_cursor_event_new_set (guint width, guint height, guint hot_x,
    guint hot_y, GstBuffer * pixels)
{
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
      gst_structure_new (OSVDI_CURSOR_SET_NAME,
          "width", G_TYPE_UINT, width, "height", G_TYPE_UINT, height,
          "hot-x", G_TYPE_UINT, hot_x, "hot-y", G_TYPE_UINT, hot_y,
          "pixels", GST_TYPE_BUFFER, pixels, NULL));
}

GstEvent *
osvdi_cursor_event_new_move (gint x, gint y)
{
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
      gst_structure_new (OSVDI_CURSOR_MOVE_NAME,
          "x", G_TYPE_INT, x, "y", G_TYPE_INT, y, NULL));
}

gboolean
osvdi_cursor_event_parse_set (GstEvent * event, guint * width, guint * height,
    guint * hot_x, guint * hot_y, GstBuffer ** pixels)
{
  const GstStructure *s = gst_event_get_structure (event);
  const GValue *value;

  if (!s || !gst_structure_has_name (s, OSVDI_CURSOR_SET_NAME))
    return FALSE;
  value = gst_structure_get_value (s, "pixels");
  if (!value || !GST_VALUE_HOLDS_BUFFER (value))
    return FALSE;
  *pixels = gst_value_get_buffer (value);
  return *pixels && gst_structure_get (s, "width", G_TYPE_UINT, width,
      "height", G_TYPE_UINT, height, "hot-x", G_TYPE_UINT, hot_x,
      "hot-y", G_TYPE_UINT, hot_y, NULL);
}

gboolean
osvdi_cursor_event_parse_move (GstEvent * event, gint * x, gint * y)
{
  const GstStructure *s = gst_event_get_structure (event);

  if (!s || !gst_structure_has_name (s, OSVDI_CURSOR_MOVE_NAME))
    return FALSE;
  return gst_structure_get (s, "x", G_TYPE_INT, x, "y", G_TYPE_INT, y, NULL);
}
