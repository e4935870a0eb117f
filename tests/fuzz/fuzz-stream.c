/* OSVDI fuzz target: the stream-device protocol parser (elements/spicestream.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * What spice-server (and through it a client) writes to spicesink's char
 * device, in whatever pieces the device hands over. Checked: every message
 * stays within OSVDI_STREAM_MAX_INCOMING; the same bytes give the same
 * messages whole and cut into pieces (up to the first malformed header,
 * after which the parser's contract is "the rest of this call is
 * discarded"); START_STOP never yields more codecs than asked for or than
 * the payload holds; and the messages the sink builds parse back to what
 * was put in.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "spicestream.h"

typedef struct
{
  GArray *msgs;                 /* Msg */
} Seen;

typedef struct
{
  guint16 type;
  guint32 size;
  guint32 hash;
} Msg;

static guint32
hash_bytes (const guint8 * p, gsize n)
{
  guint32 h = 2166136261u;
  gsize i;

  for (i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void
on_msg (guint16 type, const guint8 * payload, guint32 size, gpointer data)
{
  Seen *seen = data;
  Msg m = { type, size, hash_bytes (payload, size) };

  FUZZ_CHECK (size <= OSVDI_STREAM_MAX_INCOMING);
  if (type == STREAM_TYPE_START_STOP) {
    guint8 codecs[3];
    gint n = osvdi_stream_parse_start_stop (payload, size, codecs,
        G_N_ELEMENTS (codecs));

    if (size < 1 || payload[0] > size - 1) {
      FUZZ_CHECK (n == -1);
    } else {
      gint i;

      FUZZ_CHECK (n == MIN (payload[0], (gint) G_N_ELEMENTS (codecs)));
      for (i = 0; i < n; i++) {
        FUZZ_CHECK (codecs[i] == payload[1 + i]);
        FUZZ_CHECK (osvdi_stream_codec_name (codecs[i]) != NULL);
      }
    }
  }
  g_array_append_val (seen->msgs, m);
}

/* Feeds @data in pieces of @piece bytes (0: whole), stopping at the first
 * malformed header. */
static gboolean
feed (const guint8 * data, gsize len, gsize piece, Seen * seen)
{
  OsvdiStreamParser parser;
  gsize off = 0;

  memset (&parser, 0xa5, sizeof (parser));
  osvdi_stream_parser_reset (&parser);
  while (off < len) {
    gsize n = piece ? MIN (piece, len - off) : len - off;
    GError *error = NULL;

    if (!osvdi_stream_parser_feed (&parser, data + off, n, on_msg, seen,
            &error)) {
      FUZZ_CHECK (error != NULL);
      g_error_free (error);
      return FALSE;
    }
    FUZZ_CHECK (error == NULL);
    FUZZ_CHECK (parser.header_have <= OSVDI_STREAM_HEADER_SIZE);
    FUZZ_CHECK (parser.payload_have <= OSVDI_STREAM_MAX_INCOMING);
    off += n;
  }
  return TRUE;
}

static void
one_message (GBytes * msg, guint16 type, const guint8 * payload, gsize size)
{
  Seen seen = { g_array_new (FALSE, FALSE, sizeof (Msg)) };
  gsize len;
  const guint8 *p = g_bytes_get_data (msg, &len);
  Msg *m;

  FUZZ_CHECK (feed (p, len, 0, &seen));
  FUZZ_CHECK (seen.msgs->len == 1);
  m = &g_array_index (seen.msgs, Msg, 0);
  FUZZ_CHECK (m->type == type && m->size == size);
  FUZZ_CHECK (m->hash == hash_bytes (payload, size));
  g_array_unref (seen.msgs);
  g_bytes_unref (msg);
}

/* The sink's own messages: built, then parsed back. */
static void
round_trips (FuzzInput * in)
{
  guint32 w = fuzz_u32 (in), h = fuzz_u32 (in);
  guint8 codec = fuzz_u8 (in), fmt[sizeof (StreamMsgFormat)] = { 0 }, mv[8];
  gint32 x = fuzz_u32 (in), y = fuzz_u32 (in);
  guint16 cw = fuzz_u16 (in) % 300, ch = fuzz_u16 (in) % 300;
  guint16 hx = fuzz_u16 (in), hy = fuzz_u16 (in);
  gsize cursor_size = (gsize) cw * ch * 4;
  guint8 *pixels = g_malloc0 (cursor_size + 4);
  GBytes *cursor;

  fmt[0] = w, fmt[1] = w >> 8, fmt[2] = w >> 16, fmt[3] = w >> 24;
  fmt[4] = h, fmt[5] = h >> 8, fmt[6] = h >> 16, fmt[7] = h >> 24;
  fmt[8] = codec;
  one_message (osvdi_stream_msg_format (w, h, codec), STREAM_TYPE_FORMAT,
      fmt, sizeof (fmt));
  mv[0] = x, mv[1] = (guint32) x >> 8, mv[2] = (guint32) x >> 16;
  mv[3] = (guint32) x >> 24;
  mv[4] = y, mv[5] = (guint32) y >> 8, mv[6] = (guint32) y >> 16;
  mv[7] = (guint32) y >> 24;
  one_message (osvdi_stream_msg_cursor_move (x, y), STREAM_TYPE_CURSOR_MOVE,
      mv, sizeof (mv));
  one_message (osvdi_stream_msg_capabilities (), STREAM_TYPE_CAPABILITIES,
      NULL, 0);

  /* A cursor outside the protocol's limits is refused, never built. */
  cursor = osvdi_stream_msg_cursor_set (cw, ch, hx, hy, pixels,
      cursor_size + (fuzz_u8 (in) & 1 ? 4 : 0));
  if (cursor) {
    gsize len;
    const guint8 *p = g_bytes_get_data (cursor, &len);

    FUZZ_CHECK (cw && ch && cw <= STREAM_MSG_CURSOR_SET_MAX_WIDTH
        && ch <= STREAM_MSG_CURSOR_SET_MAX_HEIGHT && hx < cw && hy < ch);
    FUZZ_CHECK (len == OSVDI_STREAM_HEADER_SIZE + sizeof (StreamMsgCursorSet)
        + cursor_size);
    FUZZ_CHECK (p[2] == STREAM_TYPE_CURSOR_SET);
    g_bytes_unref (cursor);
  }
  g_free (pixels);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  FuzzInput in = { data, size };
  Seen whole = { g_array_new (FALSE, FALSE, sizeof (Msg)) };
  Seen pieces = { g_array_new (FALSE, FALSE, sizeof (Msg)) };
  gsize piece;
  gboolean ok_whole, ok_pieces;

  if (size < 1)
    goto out;
  piece = 1 + data[0] % 13;
  ok_whole = feed (data + 1, size - 1, 0, &whole);
  ok_pieces = feed (data + 1, size - 1, piece, &pieces);
  /* The same messages however the bytes arrive, the same verdict. */
  FUZZ_CHECK (ok_whole == ok_pieces);
  FUZZ_CHECK (whole.msgs->len == pieces.msgs->len);
  for (piece = 0; piece < whole.msgs->len; piece++) {
    Msg *a = &g_array_index (whole.msgs, Msg, piece);
    Msg *b = &g_array_index (pieces.msgs, Msg, piece);

    FUZZ_CHECK (a->type == b->type && a->size == b->size
        && a->hash == b->hash);
  }
  round_trips (&in);
out:
  g_array_unref (whole.msgs);
  g_array_unref (pieces.msgs);
  return 0;
}
