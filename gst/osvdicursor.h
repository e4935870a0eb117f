/* OSVDI - cursor events from a capture source to spicesink
 * SPDX-License-Identifier: Apache-2.0
 *
 * The guest's cursor travels beside the video, not burnt into it, as
 * out-of-band custom downstream events, so pointer motion costs no encode.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define OSVDI_CURSOR_SET_NAME "osvdi/cursor-set"
#define OSVDI_CURSOR_MOVE_NAME "osvdi/cursor-move"

/* @pixels: width * height 32-bit pixels, B G R A in memory (straight alpha).
 * The event takes its own reference to @pixels. */
GstEvent *osvdi_cursor_event_new_set (guint width, guint height, guint hot_x,
    guint hot_y, GstBuffer * pixels);

GstEvent *osvdi_cursor_event_new_move (gint x, gint y);

/* Return FALSE when @event is not a well-formed cursor event of that kind.
 * @pixels is borrowed from the event. */
gboolean osvdi_cursor_event_parse_set (GstEvent * event, guint * width,
    guint * height, guint * hot_x, guint * hot_y, GstBuffer ** pixels);

gboolean osvdi_cursor_event_parse_move (GstEvent * event, gint * x, gint * y);

G_END_DECLS
