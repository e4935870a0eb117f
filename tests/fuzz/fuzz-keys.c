/* OSVDI fuzz target: PC scancodes, key names and QEMU qnums (gst/osvdikeys.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * A SPICE client's keyboard bytes (the PS/2 stream spice-server hands to
 * spicesink), arbitrary scancodes and key names from navigation events.
 * Checked: a decoded scancode is a set-1 code with at most the extended
 * bit; name -> scancode -> name and scancode -> name -> scancode round
 * trip; a qnum is one byte that keeps the code and the extended bit.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "osvdikeys.h"

static void
check_scancode (guint scancode)
{
  const gchar *name = osvdi_scancode_to_key_name (scancode);
  guint qnum = osvdi_scancode_to_qnum (scancode);
  gboolean valid = scancode
      && !(scancode & ~(OSVDI_SCANCODE_EXTENDED | 0x7f));

  if (name) {
    FUZZ_CHECK (valid);
    FUZZ_CHECK (osvdi_key_name_to_scancode (name) == scancode);
  }
  if (qnum) {
    FUZZ_CHECK (valid && qnum <= 0xff);
    FUZZ_CHECK ((qnum & 0x7f) == (scancode & 0x7f));
    FUZZ_CHECK (!(qnum & 0x80) == !(scancode & OSVDI_SCANCODE_EXTENDED));
  } else {
    FUZZ_CHECK (!valid || (scancode & 0x7f) == 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  OsvdiScancodeDecoder dec = { FALSE };
  FuzzInput in = { data, size };
  gchar *name;
  guint scancode, code;
  gsize i;

  /* The whole input as a PS/2 byte stream. */
  for (i = 0; i < size; i++) {
    gboolean pressed = 2, extended = dec.extended;

    scancode = 0xdeadbeef;
    if (osvdi_scancode_decoder_push (&dec, data[i], &scancode, &pressed)) {
      FUZZ_CHECK (data[i] != 0xe0);
      FUZZ_CHECK (!(scancode & ~(OSVDI_SCANCODE_EXTENDED | 0x7f)));
      FUZZ_CHECK ((scancode & 0x7f) == (data[i] & 0x7f));
      FUZZ_CHECK (!(scancode & OSVDI_SCANCODE_EXTENDED) == !extended);
      FUZZ_CHECK (pressed == !(data[i] & 0x80));
      FUZZ_CHECK (!dec.extended);
      check_scancode (scancode);
    } else {
      FUZZ_CHECK (data[i] == 0xe0 && dec.extended);
      FUZZ_CHECK (scancode == 0xdeadbeef && pressed == 2);
    }
  }
  /* As 32-bit scancodes from a navigation event's "scancode" field. */
  while (in.left)
    check_scancode (fuzz_u32 (&in));
  /* As a key name. */
  name = fuzz_string (data, size);
  code = osvdi_key_name_to_scancode (name);
  if (code) {
    FUZZ_CHECK (g_strcmp0 (osvdi_scancode_to_key_name (code), name) == 0);
    check_scancode (code);
  }
  g_free (name);
  return 0;
}
