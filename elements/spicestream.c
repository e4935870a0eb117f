/* OSVDI - spice-server stream device protocol (spice/stream-device.h)
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spicestream.h"

#include <string.h>
#include <spice/enums.h>

G_DEFINE_QUARK (osvdi-stream-error-quark, osvdi_stream_error);

void
osvdi_stream_write_header (guint8 out[OSVDI_STREAM_HEADER_SIZE], guint16 type,
    guint32 size)
{
  /* StreamDevHeader is little-endian on the wire. */
  out[0] = STREAM_DEVICE_PROTOCOL;
  out[1] = 0;
  out[2] = type & 0xff;
  out[3] = type >> 8;
  out[4] = size & 0xff;
  out[5] = (size >> 8) & 0xff;
  out[6] = (size >> 16) & 0xff;
  out[7] = size >> 24;
}

static void
put_le32 (guint8 * p, guint32 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = v >> 24;
}

static void
put_le16 (guint8 * p, guint16 v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

static guint8 *
msg_new (guint16 type, guint32 size)
{
  guint8 *msg = g_malloc0 (OSVDI_STREAM_HEADER_SIZE + size);

  osvdi_stream_write_header (msg, type, size);
  return msg;
}

GBytes *
osvdi_stream_msg_capabilities (void)
{
  /* No optional capability (quality indicator) is used. */
  return g_bytes_new_take (msg_new (STREAM_TYPE_CAPABILITIES, 0),
      OSVDI_STREAM_HEADER_SIZE);
}

GBytes *
osvdi_stream_msg_format (guint32 width, guint32 height, guint8 codec)
{
  const guint32 size = sizeof (StreamMsgFormat);
  guint8 *msg = msg_new (STREAM_TYPE_FORMAT, size);
  guint8 *p = msg + OSVDI_STREAM_HEADER_SIZE;

  put_le32 (p, width);
  put_le32 (p + 4, height);
  p[8] = codec;
  return g_bytes_new_take (msg, OSVDI_STREAM_HEADER_SIZE + size);
}

GBytes *
osvdi_stream_msg_cursor_move (gint32 x, gint32 y)
{
  const guint32 size = sizeof (StreamMsgCursorMove);
  guint8 *msg = msg_new (STREAM_TYPE_CURSOR_MOVE, size);

  put_le32 (msg + OSVDI_STREAM_HEADER_SIZE, (guint32) x);
  put_le32 (msg + OSVDI_STREAM_HEADER_SIZE + 4, (guint32) y);
  return g_bytes_new_take (msg, OSVDI_STREAM_HEADER_SIZE + size);
}

GBytes *
osvdi_stream_msg_cursor_set (guint16 width, guint16 height, guint16 hot_x,
    guint16 hot_y, const guint8 * pixels, gsize size)
{
  guint32 msg_size;
  guint8 *msg, *p;

  if (width == 0 || height == 0 || width > STREAM_MSG_CURSOR_SET_MAX_WIDTH
      || height > STREAM_MSG_CURSOR_SET_MAX_HEIGHT
      || size != (gsize) width * height * 4 || hot_x >= width
      || hot_y >= height)
    return NULL;

  msg_size = sizeof (StreamMsgCursorSet) + size;
  msg = msg_new (STREAM_TYPE_CURSOR_SET, msg_size);
  p = msg + OSVDI_STREAM_HEADER_SIZE;
  put_le16 (p, width);
  put_le16 (p + 2, height);
  put_le16 (p + 4, hot_x);
  put_le16 (p + 6, hot_y);
  p[8] = SPICE_CURSOR_TYPE_ALPHA;
  memcpy (p + sizeof (StreamMsgCursorSet), pixels, size);
  return g_bytes_new_take (msg, OSVDI_STREAM_HEADER_SIZE + msg_size);
}

void
osvdi_stream_parser_reset (OsvdiStreamParser * parser)
{
  parser->header_have = 0;
  parser->payload_have = 0;
  parser->type = 0;
  parser->size = 0;
}

gboolean
osvdi_stream_parser_feed (OsvdiStreamParser * parser, const guint8 * data,
    gsize len, OsvdiStreamMsgFunc func, gpointer user_data, GError ** error)
{
  while (len > 0) {
    gsize n;

    if (parser->header_have < OSVDI_STREAM_HEADER_SIZE) {
      n = MIN (len, OSVDI_STREAM_HEADER_SIZE - parser->header_have);
      memcpy (parser->header + parser->header_have, data, n);
      parser->header_have += n;
      data += n;
      len -= n;
      if (parser->header_have < OSVDI_STREAM_HEADER_SIZE)
        break;

      parser->type = parser->header[2] | (parser->header[3] << 8);
      parser->size = (guint32) parser->header[4]
          | ((guint32) parser->header[5] << 8)
          | ((guint32) parser->header[6] << 16)
          | ((guint32) parser->header[7] << 24);
      if (parser->header[0] != STREAM_DEVICE_PROTOCOL) {
        g_set_error (error, OSVDI_STREAM_ERROR, 0,
            "stream device protocol version %u, expected %u",
            parser->header[0], STREAM_DEVICE_PROTOCOL);
        goto garbage;
      }
      if (parser->size > OSVDI_STREAM_MAX_INCOMING) {
        g_set_error (error, OSVDI_STREAM_ERROR, 0,
            "stream device message type %u of %u bytes exceeds %u",
            parser->type, parser->size, OSVDI_STREAM_MAX_INCOMING);
        goto garbage;
      }
    }

    n = MIN (len, parser->size - parser->payload_have);
    memcpy (parser->payload + parser->payload_have, data, n);
    parser->payload_have += n;
    data += n;
    len -= n;

    if (parser->payload_have == parser->size) {
      guint16 type = parser->type;
      guint32 size = parser->size;

      osvdi_stream_parser_reset (parser);
      func (type, parser->payload, size, user_data);
    }
  }
  return TRUE;

garbage:
  osvdi_stream_parser_reset (parser);
  return FALSE;
}

gint
osvdi_stream_parse_start_stop (const guint8 * payload, guint32 size,
    guint8 * codecs, guint max_codecs)
{
  guint num, i, out = 0;

  if (size < 1)
    return -1;
  num = payload[0];
  if (num > size - 1)
    return -1;
  for (i = 0; i < num; i++) {
    if (out < max_codecs)
      codecs[out++] = payload[1 + i];
  }
  return out;
}

const gchar *
osvdi_stream_codec_name (guint8 codec)
{
  switch (codec) {
    case SPICE_VIDEO_CODEC_TYPE_MJPEG:
      return "mjpeg";
    case SPICE_VIDEO_CODEC_TYPE_VP8:
      return "vp8";
    case SPICE_VIDEO_CODEC_TYPE_H264:
      return "h264";
    case SPICE_VIDEO_CODEC_TYPE_VP9:
      return "vp9";
    case SPICE_VIDEO_CODEC_TYPE_H265:
      return "h265";
    default:
      return "unknown";
  }
}
