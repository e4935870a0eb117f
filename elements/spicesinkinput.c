/* OSVDI - spicesink's input: SPICE keyboard, mouse and tablet to GstNavigation
 * SPDX-License-Identifier: Apache-2.0
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spicesinkinput.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_spice_sink_debug);
#define GST_CAT_DEFAULT gst_spice_sink_debug

static GstNavigationModifierType
modifier_for_key (const gchar * key)
{
  if (!key)
    return 0;
  if (g_str_has_prefix (key, "Shift_"))
    return GST_NAVIGATION_MODIFIER_SHIFT_MASK;
  if (g_str_has_prefix (key, "Control_"))
    return GST_NAVIGATION_MODIFIER_CONTROL_MASK;
  if (g_str_has_prefix (key, "Alt_"))
    return GST_NAVIGATION_MODIFIER_MOD1_MASK;
  if (g_str_has_prefix (key, "Super_"))
    return GST_NAVIGATION_MODIFIER_SUPER_MASK;
  return 0;
}

static void
pointer_bounds (OsvdiSpiceInput * in, gdouble * max_x, gdouble * max_y)
{
  guint width = 0, height = 0;

  in->size (&width, &height, in->user_data);
  *max_x = width ? (gdouble) width - 1 : G_MAXINT;
  *max_y = height ? (gdouble) height - 1 : G_MAXINT;
}

/* ------------------------------------------------------------------------ */
/* Keyboard                                                                 */

static void
kbd_push_scan_freg (SpiceKbdInstance * sin, uint8_t frag)
{
  OsvdiSpiceInput *in = ((OsvdiSpiceKeyboard *) sin)->input;
  const gchar *key;
  guint scancode;
  gboolean pressed;
  GstEvent *event;
  gchar *unknown = NULL;

  if (!osvdi_scancode_decoder_push (&in->scancodes, frag, &scancode,
          &pressed))
    return;

  key = osvdi_scancode_to_key_name (scancode);
  if (!key)
    key = unknown = g_strdup_printf ("scancode-0x%03x", scancode);

  if (pressed)
    in->modifiers |= modifier_for_key (key);
  else
    in->modifiers &= ~modifier_for_key (key);

  event = pressed ? gst_navigation_event_new_key_press (key, in->modifiers)
      : gst_navigation_event_new_key_release (key, in->modifiers);
  /* Keep the raw PC scancode: a VM wants it, not a keysym name. */
  gst_structure_set (gst_event_writable_structure (event),
      "scancode", G_TYPE_UINT, scancode, NULL);
  GST_LOG_OBJECT (in->owner, "key %s 0x%03x %s", key, scancode,
      pressed ? "down" : "up");
  g_free (unknown);
  in->push (event, in->user_data);
}

static uint8_t
kbd_get_leds (SpiceKbdInstance * sin)
{
  (void) sin;
  return 0;
}

static SpiceKbdInterface keyboard_interface = {
  .base = {
        .type = SPICE_INTERFACE_KEYBOARD,
        .description = "OSVDI keyboard",
        .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
        .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
      },
  .push_scan_freg = kbd_push_scan_freg,
  .get_leds = kbd_get_leds,
};

/* ------------------------------------------------------------------------ */
/* Mouse (server mouse mode: relative motion)                               */

/* spice-server's local button mask (QEMU's): 1 left, 2 right, 4 middle.
 * GstNavigation numbers buttons the X way: 1 left, 2 middle, 3 right. */
static const struct
{
  guint32 mask;
  gint button;
} mouse_buttons[] = {
  {1, 1}, {4, 2}, {2, 3},
};

static void
update_buttons (OsvdiSpiceInput * in, guint32 state)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (mouse_buttons); i++) {
    guint32 mask = mouse_buttons[i].mask;
    GstEvent *event;

    if ((state & mask) == (in->buttons & mask))
      continue;
    if (state & mask)
      event = gst_navigation_event_new_mouse_button_press
          (mouse_buttons[i].button, in->pointer_x, in->pointer_y,
          in->modifiers);
    else
      event = gst_navigation_event_new_mouse_button_release
          (mouse_buttons[i].button, in->pointer_x, in->pointer_y,
          in->modifiers);
    in->push (event, in->user_data);
  }
  in->buttons = state;
}

static void
mouse_motion (SpiceMouseInstance * sin, int dx, int dy, int dz,
    uint32_t buttons_state)
{
  OsvdiSpiceInput *in = ((OsvdiSpiceMouse *) sin)->input;

  if (dx || dy) {
    GstEvent *event;
    gdouble max_x, max_y;

    /* Server mouse mode gives relative motion; GstNavigation has only
     * absolute positions, so a virtual pointer inside the stream carries the
     * position and the raw deltas ride along. */
    pointer_bounds (in, &max_x, &max_y);
    in->pointer_x = CLAMP (in->pointer_x + dx, 0, max_x);
    in->pointer_y = CLAMP (in->pointer_y + dy, 0, max_y);
    event = gst_navigation_event_new_mouse_move (in->pointer_x,
        in->pointer_y, in->modifiers);
    gst_structure_set (gst_event_writable_structure (event),
        "dx", G_TYPE_INT, dx, "dy", G_TYPE_INT, dy,
        "relative", G_TYPE_BOOLEAN, TRUE, NULL);
    in->push (event, in->user_data);
  }
  if (dz)
    /* SPICE and X: positive dz scrolls down; GstNavigation: delta_y > 0 is
     * up (as gtkwaylandsink and the d3d11 sinks report it). */
    in->push (gst_navigation_event_new_mouse_scroll (in->pointer_x,
            in->pointer_y, 0, -dz, in->modifiers), in->user_data);
  update_buttons (in, buttons_state);
}

static void
mouse_buttons_changed (SpiceMouseInstance * sin, uint32_t buttons_state)
{
  update_buttons (((OsvdiSpiceMouse *) sin)->input, buttons_state);
}

static SpiceMouseInterface mouse_interface = {
  .base = {
        .type = SPICE_INTERFACE_MOUSE,
        .description = "OSVDI mouse",
        .major_version = SPICE_INTERFACE_MOUSE_MAJOR,
        .minor_version = SPICE_INTERFACE_MOUSE_MINOR,
      },
  .motion = mouse_motion,
  .buttons = mouse_buttons_changed,
};

/* ------------------------------------------------------------------------ */
/* Tablet (client mouse mode: absolute positions)                           */

/* Positions in the stream's pixels (spice-gtk maps a scaled window back),
 * buttons in the same local mask as the mouse. spice-server 0.15 reports a
 * press as wheel (0, mask), a release as buttons (mask) and scrolling as
 * wheel (+-1, mask). */
static void
tablet_set_logical_size (SpiceTabletInstance * sin, int width, int height)
{
  /* The size of the transient QXL surface, not of the stream: ignored. */
  (void) sin;
  (void) width;
  (void) height;
}

static void
tablet_position (SpiceTabletInstance * sin, int x, int y,
    uint32_t buttons_state)
{
  OsvdiSpiceInput *in = ((OsvdiSpiceTablet *) sin)->input;
  gdouble max_x, max_y;

  pointer_bounds (in, &max_x, &max_y);
  in->pointer_x = CLAMP (x, 0, max_x);
  in->pointer_y = CLAMP (y, 0, max_y);
  in->push (gst_navigation_event_new_mouse_move (in->pointer_x,
          in->pointer_y, in->modifiers), in->user_data);
  update_buttons (in, buttons_state);
}

static void
tablet_wheel (SpiceTabletInstance * sin, int motion, uint32_t buttons_state)
{
  OsvdiSpiceInput *in = ((OsvdiSpiceTablet *) sin)->input;

  if (motion)
    in->push (gst_navigation_event_new_mouse_scroll (in->pointer_x,
            in->pointer_y, 0, -motion, in->modifiers), in->user_data);
  update_buttons (in, buttons_state);
}

static void
tablet_buttons (SpiceTabletInstance * sin, uint32_t buttons_state)
{
  update_buttons (((OsvdiSpiceTablet *) sin)->input, buttons_state);
}

static SpiceTabletInterface tablet_interface = {
  .base = {
        .type = SPICE_INTERFACE_TABLET,
        .description = "OSVDI tablet",
        .major_version = SPICE_INTERFACE_TABLET_MAJOR,
        .minor_version = SPICE_INTERFACE_TABLET_MINOR,
      },
  .set_logical_size = tablet_set_logical_size,
  .position = tablet_position,
  .wheel = tablet_wheel,
  .buttons = tablet_buttons,
};

/* ------------------------------------------------------------------------ */

static void
reset_state (OsvdiSpiceInput * in)
{
  memset (&in->scancodes, 0, sizeof (in->scancodes));
  in->modifiers = 0;
  in->buttons = 0;
  in->pointer_x = in->pointer_y = 0;
}

void
osvdi_spice_input_init (OsvdiSpiceInput * in, GstObject * owner,
    OsvdiSpiceInputPushFunc push, OsvdiSpiceInputSizeFunc size,
    gpointer user_data)
{
  memset (in, 0, sizeof (*in));
  in->owner = owner;
  in->push = push;
  in->size = size;
  in->user_data = user_data;
  reset_state (in);
}

gboolean
osvdi_spice_input_attach (OsvdiSpiceInput * in, SpiceServer * server,
    gboolean tablet)
{
  reset_state (in);
  in->keyboard.input = in->mouse.input = in->tablet.input = in;
  in->keyboard.sin.base.sif = &keyboard_interface.base;
  in->mouse.sin.base.sif = &mouse_interface.base;
  in->tablet.sin.base.sif = &tablet_interface.base;
  if (spice_server_add_interface (server, &in->keyboard.sin.base)
      || spice_server_add_interface (server, &in->mouse.sin.base))
    return FALSE;
  if (tablet && spice_server_add_interface (server, &in->tablet.sin.base))
    return FALSE;
  in->tablet_added = tablet;
  return TRUE;
}

void
osvdi_spice_input_detach (OsvdiSpiceInput * in)
{
  /* spice-server cannot remove input interfaces, and destroying the server
   * leaves their state (plain g_malloc0'd structs) behind: free it here so
   * that NULL<->PLAYING cycles do not leak. */
#if SPICE_SERVER_VERSION < 0x001000
  g_free (in->keyboard.sin.st);
  g_free (in->mouse.sin.st);
#endif
  memset (&in->tablet.sin, 0, sizeof (in->tablet.sin));
  memset (&in->mouse.sin, 0, sizeof (in->mouse.sin));
  memset (&in->keyboard.sin, 0, sizeof (in->keyboard.sin));
  in->tablet_added = FALSE;
  reset_state (in);
}
