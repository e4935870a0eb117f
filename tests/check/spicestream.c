/* OSVDI - stream device protocol and scancode helpers, no server needed
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gst/check/gstcheck.h>
#include <spice/enums.h>
#include <string.h>

#include "spicestream.h"
#include "osvdikeys.h"

typedef struct
{
  guint count;
  guint16 type[8];
  guint32 size[8];
  guint8 first[8];
} Seen;

static void
on_msg (guint16 type, const guint8 * payload, guint32 size, gpointer data)
{
  Seen *seen = data;

  if (seen->count < 8) {
    seen->type[seen->count] = type;
    seen->size[seen->count] = size;
    seen->first[seen->count] = size ? payload[0] : 0;
  }
  seen->count++;
}

GST_START_TEST (test_header_layout)
{
  guint8 h[OSVDI_STREAM_HEADER_SIZE];
  GBytes *b;
  const guint8 *p;
  gsize n;

  osvdi_stream_write_header (h, STREAM_TYPE_DATA, 0x01020304);
  fail_unless_equals_int (h[0], STREAM_DEVICE_PROTOCOL);
  fail_unless_equals_int (h[1], 0);
  fail_unless_equals_int (h[2], STREAM_TYPE_DATA);
  fail_unless_equals_int (h[3], 0);
  fail_unless (memcmp (h + 4, "\x04\x03\x02\x01", 4) == 0);

  b = osvdi_stream_msg_format (1920, 1080, SPICE_VIDEO_CODEC_TYPE_H264);
  p = g_bytes_get_data (b, &n);
  fail_unless_equals_int (n, 8 + 12);
  fail_unless_equals_int (p[2], STREAM_TYPE_FORMAT);
  fail_unless_equals_int (p[4], 12);
  fail_unless (memcmp (p + 8, "\x80\x07\x00\x00\x38\x04\x00\x00\x03", 9) == 0);
  g_bytes_unref (b);

  b = osvdi_stream_msg_cursor_move (-1, 7);
  p = g_bytes_get_data (b, &n);
  fail_unless_equals_int (n, 16);
  fail_unless (memcmp (p + 8, "\xff\xff\xff\xff\x07\x00\x00\x00", 8) == 0);
  g_bytes_unref (b);
}

GST_END_TEST;

GST_START_TEST (test_cursor_limits)
{
  guint8 pixels[4 * 4 * 4] = { 0 };
  GBytes *b;

  b = osvdi_stream_msg_cursor_set (4, 4, 1, 2, pixels, sizeof (pixels));
  fail_unless (b != NULL);
  fail_unless_equals_int (g_bytes_get_size (b), 8 + 12 + sizeof (pixels));
  fail_unless_equals_int (((const guint8 *) g_bytes_get_data (b, NULL))[16],
      SPICE_CURSOR_TYPE_ALPHA);
  g_bytes_unref (b);
  /* Wrong size, hot spot outside, too large: refused. */
  fail_unless (osvdi_stream_msg_cursor_set (4, 4, 1, 2, pixels, 10) == NULL);
  fail_unless (osvdi_stream_msg_cursor_set (4, 4, 4, 0, pixels,
          sizeof (pixels)) == NULL);
  fail_unless (osvdi_stream_msg_cursor_set (2048, 1, 0, 0, pixels,
          2048 * 4) == NULL);
}

GST_END_TEST;

GST_START_TEST (test_parser_split_and_joined)
{
  static const guint8 stream[] = {
    /* CAPABILITIES with one byte */
    1, 0, STREAM_TYPE_CAPABILITIES, 0, 1, 0, 0, 0, 0x5a,
    /* START_STOP: 2 codecs, H264 and VP8 */
    1, 0, STREAM_TYPE_START_STOP, 0, 3, 0, 0, 0, 2, 3, 2,
    /* empty message */
    1, 0, 42, 0, 0, 0, 0, 0,
  };
  OsvdiStreamParser parser;
  Seen seen = { 0 };
  gsize i;

  /* Byte by byte. */
  osvdi_stream_parser_reset (&parser);
  for (i = 0; i < sizeof (stream); i++)
    fail_unless (osvdi_stream_parser_feed (&parser, stream + i, 1, on_msg,
            &seen, NULL));
  fail_unless_equals_int (seen.count, 3);
  fail_unless_equals_int (seen.type[0], STREAM_TYPE_CAPABILITIES);
  fail_unless_equals_int (seen.first[0], 0x5a);
  fail_unless_equals_int (seen.type[1], STREAM_TYPE_START_STOP);
  fail_unless_equals_int (seen.size[1], 3);
  fail_unless_equals_int (seen.type[2], 42);
  fail_unless_equals_int (seen.size[2], 0);

  /* All at once. */
  memset (&seen, 0, sizeof (seen));
  fail_unless (osvdi_stream_parser_feed (&parser, stream, sizeof (stream),
          on_msg, &seen, NULL));
  fail_unless_equals_int (seen.count, 3);
}

GST_END_TEST;

GST_START_TEST (test_parser_garbage)
{
  static const guint8 bad_version[] = { 9, 0, 1, 0, 0, 0, 0, 0 };
  static const guint8 huge[] = { 1, 0, 1, 0, 0, 0, 0, 0x10 };
  static const guint8 good[] = { 1, 0, STREAM_TYPE_START_STOP, 0, 1, 0, 0, 0,
    0
  };
  OsvdiStreamParser parser;
  Seen seen = { 0 };
  GError *error = NULL;

  osvdi_stream_parser_reset (&parser);
  fail_if (osvdi_stream_parser_feed (&parser, bad_version,
          sizeof (bad_version), on_msg, &seen, &error));
  fail_unless (error && strstr (error->message, "version 9"));
  g_clear_error (&error);
  fail_if (osvdi_stream_parser_feed (&parser, huge, sizeof (huge), on_msg,
          &seen, &error));
  fail_unless (error && strstr (error->message, "exceeds"));
  g_clear_error (&error);
  fail_unless_equals_int (seen.count, 0);

  /* After garbage, the parser starts over on the next message. */
  fail_unless (osvdi_stream_parser_feed (&parser, good, sizeof (good), on_msg,
          &seen, NULL));
  fail_unless_equals_int (seen.count, 1);
  fail_unless_equals_int (seen.type[0], STREAM_TYPE_START_STOP);
}

GST_END_TEST;

GST_START_TEST (test_start_stop_parse)
{
  guint8 codecs[4];
  static const guint8 two[] = { 2, 3, 2 };
  static const guint8 stop[] = { 0 };
  static const guint8 lying[] = { 5, 1 };

  fail_unless_equals_int (osvdi_stream_parse_start_stop (two, 3, codecs, 4),
      2);
  fail_unless_equals_int (codecs[0], SPICE_VIDEO_CODEC_TYPE_H264);
  fail_unless_equals_int (codecs[1], SPICE_VIDEO_CODEC_TYPE_VP8);
  fail_unless_equals_int (osvdi_stream_parse_start_stop (stop, 1, codecs, 4),
      0);
  fail_unless_equals_int (osvdi_stream_parse_start_stop (lying, 2, codecs, 4),
      -1);
  fail_unless_equals_int (osvdi_stream_parse_start_stop (NULL, 0, codecs, 4),
      -1);
  fail_unless_equals_string (osvdi_stream_codec_name (3), "h264");
  fail_unless_equals_string (osvdi_stream_codec_name (77), "unknown");
}

GST_END_TEST;

GST_START_TEST (test_scancodes)
{
  OsvdiScancodeDecoder dec = { 0 };
  guint code;
  gboolean pressed;

  fail_unless (osvdi_scancode_decoder_push (&dec, 0x1e, &code, &pressed));
  fail_unless_equals_int (code, 0x1e);
  fail_unless (pressed);
  fail_unless_equals_string (osvdi_scancode_to_key_name (code), "a");
  fail_unless (osvdi_scancode_decoder_push (&dec, 0x9e, &code, &pressed));
  fail_unless_equals_int (code, 0x1e);
  fail_if (pressed);

  fail_if (osvdi_scancode_decoder_push (&dec, 0xe0, &code, &pressed));
  fail_unless (osvdi_scancode_decoder_push (&dec, 0xc8, &code, &pressed));
  fail_unless_equals_int (code, 0x148);
  fail_if (pressed);
  fail_unless_equals_string (osvdi_scancode_to_key_name (code), "Up");
  fail_unless_equals_string (osvdi_scancode_to_key_name (0x1c), "Return");
  fail_unless_equals_string (osvdi_scancode_to_key_name (0x11c), "KP_Enter");
  fail_unless (osvdi_scancode_to_key_name (0x7f) == NULL);
  fail_unless (osvdi_scancode_to_key_name (0x1234) == NULL);

  /* Back from names, and on to QEMU's qnum codes (extended: high bit). */
  fail_unless_equals_int (osvdi_key_name_to_scancode ("Escape"), 0x01);
  fail_unless_equals_int (osvdi_key_name_to_scancode ("Up"), 0x148);
  fail_unless_equals_int (osvdi_key_name_to_scancode ("no-such-key"), 0);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0x01), 0x01);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0x1e), 0x1e);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0x148), 0xc8);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0x11c), 0x9c);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0), 0);
  fail_unless_equals_int (osvdi_scancode_to_qnum (0x1234), 0);
}

GST_END_TEST;

static Suite *
spicestream_suite (void)
{
  Suite *s = suite_create ("spicestream");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_header_layout);
  tcase_add_test (tc, test_cursor_limits);
  tcase_add_test (tc, test_parser_split_and_joined);
  tcase_add_test (tc, test_parser_garbage);
  tcase_add_test (tc, test_start_stop_parse);
  tcase_add_test (tc, test_scancodes);
  return s;
}

GST_CHECK_MAIN (spicestream);
