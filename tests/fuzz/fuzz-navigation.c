/* OSVDI fuzz target: navigation events -> QEMU keyboard and mouse
 * (elements/qemuinput.c, gst/osvdikeys.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Upstream GstNavigation events as any element may send them (spicesink's
 * from a SPICE client, a video sink's from a window): key names, scancode
 * fields of any type, coordinates of any double, buttons, wheels.
 * Checked: what reaches QEMU is a one-byte qnum (or nothing) that is the
 * key's own, a button QEMU has (0-4), a move whose coordinates are the
 * event's where they fit half an int (the display subtracts two of them
 * for relative motion), clamped otherwise, 0 for NaN.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "osvdikeys.h"
#include "qemuinput.h"

#include <math.h>
#include <gst/video/navigation.h>

static gdouble
fuzz_double (FuzzInput * in)
{
  guint8 how = fuzz_u8 (in);
  guint64 bits;
  gdouble d;

  /* Mostly screen-like values, sometimes any 64-bit pattern. */
  if (how < 200)
    return (gdouble) (gint16) fuzz_u16 (in) + (how % 4) / 4.0;
  bits = fuzz_u64 (in);
  memcpy (&d, &bits, sizeof (d));
  return d;
}

static GstEvent *
make_event (FuzzInput * in, gchar ** name)
{
  guint8 kind = fuzz_u8 (in), extra = fuzz_u8 (in);
  gsize len;
  const guint8 *p;
  GstEvent *ev;
  GstStructure *s;
  gdouble x = fuzz_double (in), y = fuzz_double (in);

  switch (kind % 7) {
    case 0:
    case 1:
      p = fuzz_bytes (in, 32, &len);
      *name = g_strndup ((const gchar *) p, len);
      if (!g_utf8_validate (*name, -1, NULL))
        memset (*name, 'a', strlen (*name));
      ev = kind % 7 ? gst_navigation_event_new_key_release (*name,
          GST_NAVIGATION_MODIFIER_NONE) :
          gst_navigation_event_new_key_press (*name,
          GST_NAVIGATION_MODIFIER_NONE);
      break;
    case 2:
      ev = gst_navigation_event_new_mouse_move (x, y,
          GST_NAVIGATION_MODIFIER_NONE);
      break;
    case 3:
    case 4:
      ev = kind % 7 == 3 ?
          gst_navigation_event_new_mouse_button_press ((gint8) fuzz_u8 (in),
          x, y, GST_NAVIGATION_MODIFIER_NONE) :
          gst_navigation_event_new_mouse_button_release ((gint8) fuzz_u8 (in),
          x, y, GST_NAVIGATION_MODIFIER_NONE);
      break;
    case 5:
      ev = gst_navigation_event_new_mouse_scroll (x, y, fuzz_double (in),
          fuzz_double (in), GST_NAVIGATION_MODIFIER_NONE);
      break;
    default:
      /* A hand-made structure: the fields any element might put. */
      s = gst_structure_new ("application/x-gst-navigation", "event",
          G_TYPE_STRING, (extra & 1) ? "key-press" : "mouse-move", NULL);
      if (extra & 2)
        gst_structure_set (s, "key", G_TYPE_STRING, "Return", NULL);
      if (extra & 4)
        gst_structure_set (s, "pointer_x", G_TYPE_DOUBLE, x, "pointer_y",
            G_TYPE_DOUBLE, y, NULL);
      ev = gst_event_new_navigation (s);
      break;
  }
  s = gst_event_writable_structure (ev);
  if (extra & 8)
    gst_structure_set (s, "scancode", (extra & 16) ? G_TYPE_INT : G_TYPE_UINT,
        fuzz_u32 (in), NULL);
  if (extra & 32)
    gst_structure_set (s, "relative", G_TYPE_BOOLEAN, TRUE, "dx", G_TYPE_INT,
        (gint) fuzz_u32 (in), "dy", G_TYPE_INT, (gint) fuzz_u32 (in), NULL);
  if (extra & 64)
    gst_structure_set (s, "scancode", G_TYPE_STRING, "0x1c", NULL);
  return ev;
}

/* The event's own position where it fits half an int (relative motion
 * subtracts two), else the nearest bound; NaN is 0. */
static void
check_position (gdouble v, gint pos)
{
  FUZZ_CHECK (pos >= -(G_MAXINT / 2) && pos <= G_MAXINT / 2);
  if (isnan (v))
    FUZZ_CHECK (pos == 0);
  else if (fabs (v) <= G_MAXINT / 2)
    FUZZ_CHECK (pos == (gint) v);
  else
    FUZZ_CHECK (pos == (v > 0 ? G_MAXINT / 2 : -(G_MAXINT / 2)));
}

static void
check (GstEvent * ev, const QemuInput * q)
{
  const GstStructure *s = gst_event_get_structure (ev);
  guint scancode;

  switch (q->kind) {
    case QEMU_INPUT_KEY:
      FUZZ_CHECK (q->code <= 0xff);
      if (gst_structure_get_uint (s, "scancode", &scancode))
        FUZZ_CHECK (q->code == osvdi_scancode_to_qnum (scancode));
      else if (q->key)
        FUZZ_CHECK (q->code == osvdi_scancode_to_qnum
            (osvdi_key_name_to_scancode (q->key)));
      else
        FUZZ_CHECK (q->code == 0);
      break;
    case QEMU_INPUT_MOVE:{
      gdouble x, y;

      FUZZ_CHECK (gst_navigation_event_parse_mouse_move_event (ev, &x, &y));
      check_position (x, q->x);
      check_position (y, q->y);
      break;
    }
    case QEMU_INPUT_BUTTON:
      FUZZ_CHECK (q->code <= 2);
      break;
    case QEMU_INPUT_WHEEL:
      FUZZ_CHECK (q->code == 3 || q->code == 4);
      break;
    default:
      FUZZ_CHECK (!"an input kind QEMU has no call for");
  }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  gst_init (NULL, NULL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  FuzzInput in = { data, size };
  guint n = 0;

  while (in.left && n++ < 64) {
    gchar *name = NULL;
    GstEvent *ev = make_event (&in, &name);
    QemuInput q;

    if (qemu_input_from_navigation (ev, &q))
      check (ev, &q);
    gst_event_unref (ev);
    g_free (name);
  }
  return 0;
}
