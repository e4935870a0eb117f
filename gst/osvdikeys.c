/* OSVDI - PC scancodes (set 1) and GstNavigation key names
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdikeys.h"

static const gchar *const base_keys[0x80] = {
  [0x01] = "Escape",[0x02] = "1",[0x03] = "2",[0x04] = "3",[0x05] = "4",
  [0x06] = "5",[0x07] = "6",[0x08] = "7",[0x09] = "8",[0x0a] = "9",
  [0x0b] = "0",[0x0c] = "minus",[0x0d] = "equal",[0x0e] = "BackSpace",
  [0x0f] = "Tab",[0x10] = "q",[0x11] = "w",[0x12] = "e",[0x13] = "r",
  [0x14] = "t",[0x15] = "y",[0x16] = "u",[0x17] = "i",[0x18] = "o",
  [0x19] = "p",[0x1a] = "bracketleft",[0x1b] = "bracketright",
  [0x1c] = "Return",[0x1d] = "Control_L",[0x1e] = "a",[0x1f] = "s",
  [0x20] = "d",[0x21] = "f",[0x22] = "g",[0x23] = "h",[0x24] = "j",
  [0x25] = "k",[0x26] = "l",[0x27] = "semicolon",[0x28] = "apostrophe",
  [0x29] = "grave",[0x2a] = "Shift_L",[0x2b] = "backslash",[0x2c] = "z",
  [0x2d] = "x",[0x2e] = "c",[0x2f] = "v",[0x30] = "b",[0x31] = "n",
  [0x32] = "m",[0x33] = "comma",[0x34] = "period",[0x35] = "slash",
  [0x36] = "Shift_R",[0x37] = "KP_Multiply",[0x38] = "Alt_L",
  [0x39] = "space",[0x3a] = "Caps_Lock",[0x3b] = "F1",[0x3c] = "F2",
  [0x3d] = "F3",[0x3e] = "F4",[0x3f] = "F5",[0x40] = "F6",[0x41] = "F7",
  [0x42] = "F8",[0x43] = "F9",[0x44] = "F10",[0x45] = "Num_Lock",
  [0x46] = "Scroll_Lock",[0x47] = "KP_7",[0x48] = "KP_8",[0x49] = "KP_9",
  [0x4a] = "KP_Subtract",[0x4b] = "KP_4",[0x4c] = "KP_5",[0x4d] = "KP_6",
  [0x4e] = "KP_Add",[0x4f] = "KP_1",[0x50] = "KP_2",[0x51] = "KP_3",
  [0x52] = "KP_0",[0x53] = "KP_Decimal",[0x56] = "less",[0x57] = "F11",
  [0x58] = "F12",
};

static const gchar *const extended_keys[0x80] = {
  [0x1c] = "KP_Enter",[0x1d] = "Control_R",[0x35] = "KP_Divide",
  [0x37] = "Print",[0x38] = "Alt_R",[0x47] = "Home",[0x48] = "Up",
  [0x49] = "Page_Up",[0x4b] = "Left",[0x4d] = "Right",[0x4f] = "End",
  [0x50] = "Down",[0x51] = "Page_Down",[0x52] = "Insert",[0x53] = "Delete",
  [0x5b] = "Super_L",[0x5c] = "Super_R",[0x5d] = "Menu",
};

const gchar *
osvdi_scancode_to_key_name (guint scancode)
{
  guint code = scancode & 0x7f;

  if (scancode & ~(OSVDI_SCANCODE_EXTENDED | 0x7f))
    return NULL;
  if (scancode & OSVDI_SCANCODE_EXTENDED)
    return extended_keys[code];
  return base_keys[code];
}

gboolean
osvdi_scancode_decoder_push (OsvdiScancodeDecoder * dec, guint8 byte,
    guint * scancode, gboolean * pressed)
{
  if (byte == 0xe0) {
    dec->extended = TRUE;
    return FALSE;
  }
  *scancode = (byte & 0x7f) | (dec->extended ? OSVDI_SCANCODE_EXTENDED : 0);
  *pressed = !(byte & 0x80);
  dec->extended = FALSE;
  return TRUE;
}

guint
osvdi_key_name_to_scancode (const gchar * name)
{
  guint i;

  if (!name)
    return 0;
  for (i = 0; i < G_N_ELEMENTS (base_keys); i++)
    if (base_keys[i] && g_str_equal (base_keys[i], name))
      return i;
  for (i = 0; i < G_N_ELEMENTS (extended_keys); i++)
    if (extended_keys[i] && g_str_equal (extended_keys[i], name))
      return OSVDI_SCANCODE_EXTENDED | i;
  return 0;
}

guint
osvdi_scancode_to_qnum (guint scancode)
{
  if (!scancode || (scancode & 0x7f) != (scancode & ~OSVDI_SCANCODE_EXTENDED))
    return 0;
  return scancode & OSVDI_SCANCODE_EXTENDED ? 0x80 | (scancode & 0x7f)
      : scancode;
}
