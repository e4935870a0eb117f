/* OSVDI - PC scancodes (set 1) and GstNavigation key names
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A set-1 make code; extended keys (0xE0 prefix) are 0x100 | code. */
#define OSVDI_SCANCODE_EXTENDED 0x100

/* X keysym-style name GstNavigation uses for key events ("a", "Return",
 * "Shift_L"), or NULL for a code without a name. */
const gchar *osvdi_scancode_to_key_name (guint scancode);

/* The scancode of a GstNavigation key name; 0 when unknown. */
guint osvdi_key_name_to_scancode (const gchar * name);

/* QEMU's "qnum" for a scancode (the set-1 code, extended keys with the high
 * bit: 0xE0 0x48 -> 0xC8); 0 for none. */
guint osvdi_scancode_to_qnum (guint scancode);

/* Folds a byte sequence from the PS/2 keyboard (0xE0 prefix, 0x80 release
 * bit) into key events. */
typedef struct
{
  gboolean extended;
} OsvdiScancodeDecoder;

/* Returns TRUE when @byte completes a key event, filling @scancode (with
 * OSVDI_SCANCODE_EXTENDED for 0xE0 keys) and @pressed. */
gboolean osvdi_scancode_decoder_push (OsvdiScancodeDecoder * dec, guint8 byte,
    guint * scancode, gboolean * pressed);

G_END_DECLS
