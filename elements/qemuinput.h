/* OSVDI - GstNavigation events as QEMU's keyboard and mouse input
 * SPDX-License-Identifier: Apache-2.0
 *
 * The QEMU provider's mapping (qemuprovider.c), apart: pure, no display, so
 * that its fuzz target (tests/fuzz/fuzz-navigation.c) calls it as is.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum
{
  QEMU_INPUT_KEY,               /* Keyboard Press/Release @code (a qnum; 0:
                                 * no PC scancode for the key, nothing sent) */
  QEMU_INPUT_MOVE,              /* @x, @y; @dx, @dy when @have_delta */
  QEMU_INPUT_BUTTON,            /* Mouse Press/Release @code (0 left, 1
                                 * middle, 2 right) */
  QEMU_INPUT_WHEEL,             /* a press and a release of @code (3 up, 4
                                 * down) */
} QemuInputKind;

typedef struct
{
  QemuInputKind kind;
  guint code;
  gboolean pressed;
  gint x, y;
  gboolean have_delta;
  gint dx, dy;
  const gchar *key;             /* KEY: the event's key name, or NULL */
} QemuInput;

/* FALSE when @event is no input for the VM (not a navigation event, or one
 * QEMU has no input for). */
gboolean qemu_input_from_navigation (GstEvent * event, QemuInput * out);

G_END_DECLS
