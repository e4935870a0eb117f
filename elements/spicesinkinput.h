/* OSVDI - spicesink's input: SPICE keyboard, mouse and tablet to GstNavigation
 * SPDX-License-Identifier: Apache-2.0
 *
 * spice-server's three input interfaces, turned into GstNavigation events
 * for upstream: key presses by name with the raw PC scancode beside it,
 * relative motion (server mouse mode) on a virtual pointer inside the
 * stream, absolute positions (client mouse mode, the tablet), buttons in
 * GstNavigation's numbering and the wheel as scroll events. All callbacks
 * run on the server thread; the state here is that thread's alone.
 */
#pragma once

#include <gst/gst.h>
#include <gst/video/navigation.h>
#include <spice.h>
#include "osvdikeys.h"

G_BEGIN_DECLS

typedef struct _OsvdiSpiceInput OsvdiSpiceInput;

/* Takes @event; called on the server thread. */
typedef void (*OsvdiSpiceInputPushFunc) (GstEvent * event,
    gpointer user_data);
/* The stream's size, which bounds the pointer (0 when unknown). */
typedef void (*OsvdiSpiceInputSizeFunc) (guint * width, guint * height,
    gpointer user_data);

typedef struct
{
  SpiceKbdInstance sin;
  OsvdiSpiceInput *input;
} OsvdiSpiceKeyboard;

typedef struct
{
  SpiceMouseInstance sin;
  OsvdiSpiceInput *input;
} OsvdiSpiceMouse;

typedef struct
{
  SpiceTabletInstance sin;
  OsvdiSpiceInput *input;
} OsvdiSpiceTablet;

struct _OsvdiSpiceInput
{
  GstObject *owner;             /* for debug logs */
  OsvdiSpiceInputPushFunc push;
  OsvdiSpiceInputSizeFunc size;
  gpointer user_data;

  OsvdiSpiceKeyboard keyboard;
  OsvdiSpiceMouse mouse;
  OsvdiSpiceTablet tablet;
  gboolean tablet_added;

  OsvdiScancodeDecoder scancodes;
  GstNavigationModifierType modifiers;
  guint32 buttons;
  gdouble pointer_x, pointer_y;
};

void osvdi_spice_input_init (OsvdiSpiceInput * input, GstObject * owner,
    OsvdiSpiceInputPushFunc push, OsvdiSpiceInputSizeFunc size,
    gpointer user_data);

/* Adds the keyboard, the mouse and, with @tablet, the tablet (client mouse
 * mode) to @server. On the server thread, before spice_server_vm_start. */
gboolean osvdi_spice_input_attach (OsvdiSpiceInput * input,
    SpiceServer * server, gboolean tablet);

/* After spice_server_destroy: frees what spice-server left behind and
 * resets the state for the next server. */
void osvdi_spice_input_detach (OsvdiSpiceInput * input);

G_END_DECLS
