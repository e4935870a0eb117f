/* OSVDI - spice-server stream device protocol (spice/stream-device.h)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Pure functions, no spice-server and no GStreamer: message framing for what
 * the sink sends, and a parser for what spice-server writes to the device.
 */
#pragma once

#include <glib.h>
#include <spice/stream-device.h>

G_BEGIN_DECLS

#define OSVDI_STREAM_ERROR (osvdi_stream_error_quark ())
GQuark osvdi_stream_error_quark (void);

#define OSVDI_STREAM_HEADER_SIZE 8
/* Largest message spice-server sends to a device (capabilities); anything
 * larger is garbage and resets the parser. */
#define OSVDI_STREAM_MAX_INCOMING 4096
/* spice-server rejects DATA messages larger than this. */
#define OSVDI_STREAM_MAX_DATA (32 * 1024 * 1024)

void osvdi_stream_write_header (guint8 out[OSVDI_STREAM_HEADER_SIZE],
    guint16 type, guint32 size);

/* Whole messages (header included), for the small control messages. */
GBytes *osvdi_stream_msg_capabilities (void);
GBytes *osvdi_stream_msg_format (guint32 width, guint32 height, guint8 codec);
GBytes *osvdi_stream_msg_cursor_move (gint32 x, gint32 y);
/* @pixels is width * height * 4 bytes of premultiplied-free ARGB32 (SPICE's
 * ALPHA cursor type); returns NULL when the size is outside the protocol's
 * limits. */
GBytes *osvdi_stream_msg_cursor_set (guint16 width, guint16 height,
    guint16 hot_x, guint16 hot_y, const guint8 * pixels, gsize size);

typedef void (*OsvdiStreamMsgFunc) (guint16 type, const guint8 * payload,
    guint32 size, gpointer user_data);

typedef struct
{
  guint8 header[OSVDI_STREAM_HEADER_SIZE];
  gsize header_have;
  guint16 type;
  guint32 size;
  guint8 payload[OSVDI_STREAM_MAX_INCOMING];
  gsize payload_have;
} OsvdiStreamParser;

void osvdi_stream_parser_reset (OsvdiStreamParser * parser);

/* Consumes all of @data, calling @func for each complete message. On a
 * malformed header the parser resets, the rest of @data is discarded and
 * FALSE is returned with @error set. */
gboolean osvdi_stream_parser_feed (OsvdiStreamParser * parser,
    const guint8 * data, gsize len, OsvdiStreamMsgFunc func,
    gpointer user_data, GError ** error);

/* START_STOP payload: fills @codecs (SpiceVideoCodecType values) and returns
 * how many; 0 means "stop"; -1 when the payload is malformed. */
gint osvdi_stream_parse_start_stop (const guint8 * payload, guint32 size,
    guint8 * codecs, guint max_codecs);

const gchar *osvdi_stream_codec_name (guint8 codec);

G_END_DECLS
