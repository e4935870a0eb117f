/* OSVDI - a real SPICE client (spice-client-glib) for tests and benchmarks
 * SPDX-License-Identifier: Apache-2.0
 *
 * Runs on the thread-default main context of the caller; every wait helper
 * iterates that context until its condition holds or the timeout passes.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OsvdiTestClient OsvdiTestClient;

typedef struct
{
  const gchar *host;
  gint port;                    /* 0: none */
  gint tls_port;                /* 0: none */
  const gchar *password;        /* NULL: none */
  const gchar *ca_file;         /* for TLS */
  gboolean audio;               /* play the server's audio, as a desktop
                                 * client does */
} OsvdiTestClientConfig;

OsvdiTestClient *osvdi_test_client_new (const OsvdiTestClientConfig * cfg);

/* Called on every display update of the primary surface (appsink path). */
typedef void (*OsvdiTestClientFrameFunc) (OsvdiTestClient * client,
    gpointer user_data);
void osvdi_test_client_set_frame_func (OsvdiTestClient * client,
    OsvdiTestClientFrameFunc func, gpointer user_data);

/* Takes spice-gtk's GstVideoOverlay path (the one remote-viewer uses on
 * X11): each stream's decoding pipeline gets the video sink @make returns
 * instead of spice-gtk's appsink; frames are then not scheduled by the
 * media clock. Set before connecting. */
typedef gpointer (*OsvdiTestClientMakeSink) (gpointer user_data);
void osvdi_test_client_use_overlay_sink (OsvdiTestClient * client,
    OsvdiTestClientMakeSink make, gpointer user_data);
void osvdi_test_client_free (OsvdiTestClient * client);

gboolean osvdi_test_client_connect (OsvdiTestClient * client);
void osvdi_test_client_disconnect (OsvdiTestClient * client);

/* A loopback TCP port nobody listens on right now (bound, then released);
 * aborts when none can be had. */
gint osvdi_test_client_free_port (void);

/* Iterates the main context for @ms milliseconds. */
void osvdi_test_client_iterate (guint ms);

/* Waits until the main channel is open (TRUE) or failed; @event receives the
 * last SpiceChannelEvent of the main channel. */
gboolean osvdi_test_client_wait_open (OsvdiTestClient * client, guint ms,
    gint * event);

/* A client whose main channel is open, connecting again once a second
 * while nobody answers (a server still starting), until @end_us
 * (monotonic); NULL then. */
OsvdiTestClient *osvdi_test_client_open_until (const OsvdiTestClientConfig *
    cfg, gint64 end_us);

/* Decoded audio the playback channel delivered so far (needs
 * OsvdiTestClientConfig.audio), and how many of its bytes were not zero. */
void osvdi_test_client_audio (OsvdiTestClient * client, guint64 * bytes,
    guint64 * nonzero_bytes);

/* Number of display updates (drawn stream frames) seen so far. */
guint osvdi_test_client_frames (OsvdiTestClient * client);
gboolean osvdi_test_client_wait_frames (OsvdiTestClient * client, guint n,
    guint ms);

/* The primary surface's size and one pixel as 0xRRGGBB; FALSE while there is
 * no primary surface or the point is outside it. */
gboolean osvdi_test_client_size (OsvdiTestClient * client, gint * width,
    gint * height);
gboolean osvdi_test_client_pixel (OsvdiTestClient * client, gint x, gint y,
    guint32 * rgb);
/* The primary surface itself: 32-bit pixels, B G R x in memory. */
gboolean osvdi_test_client_primary (OsvdiTestClient * client,
    guint8 ** pixels, gint * stride, gint * width, gint * height);

/* Pixels of the primary surface in [@x0, @x1) x [@y0, @y1) whose three
 * channels are all above mid-grey (text on a dark console). */
guint osvdi_test_client_lit_pixels (OsvdiTestClient * client, gint x0,
    gint y0, gint x1, gint y1);

/* TRUE when each channel of @a and @b differs by at most @tolerance. */
gboolean osvdi_rgb_near (guint32 a, guint32 b, guint tolerance);

/* Waits until the pixel at (@x, @y) is near @rgb. */
gboolean osvdi_test_client_wait_pixel (OsvdiTestClient * client, gint x,
    gint y, guint32 rgb, guint tolerance, guint ms);

/* Input, as a user's client sends it. Scancodes are PC set 1, extended keys
 * as 0x100 | code. Buttons are SpiceMouseButton values. */
gboolean osvdi_test_client_wait_inputs (OsvdiTestClient * client, guint ms);
void osvdi_test_client_key (OsvdiTestClient * client, guint scancode,
    gboolean press);
/* Types @text (unshifted keys, space - / . and newline), each key pressed
 * and released with @ms of main loop after each; FALSE (nothing more typed)
 * at the first character without a key, which *@bad then holds. */
gboolean osvdi_test_client_type (OsvdiTestClient * client,
    const gchar * text, guint ms, gchar * bad);
void osvdi_test_client_motion (OsvdiTestClient * client, gint dx, gint dy);
void osvdi_test_client_button (OsvdiTestClient * client, gint button,
    gboolean press);
/* Absolute position on display 0 (client mouse mode). */
void osvdi_test_client_position (OsvdiTestClient * client, gint x, gint y);

/* The main channel's mouse mode (SPICE_MOUSE_MODE_*), 0 before it is known. */
gint osvdi_test_client_mouse_mode (OsvdiTestClient * client);
gboolean osvdi_test_client_wait_mouse_mode (OsvdiTestClient * client,
    gint mode, guint ms);
/* The last cursor shape (size, hot spot, first pixel as 0xAARRGGBB) and
 * position the cursor channel received; FALSE before any. */
gboolean osvdi_test_client_wait_cursor (OsvdiTestClient * client, guint ms);
void osvdi_test_client_cursor (OsvdiTestClient * client, gint * width,
    gint * height, gint * hot_x, gint * hot_y, guint32 * first_pixel);
gboolean osvdi_test_client_wait_cursor_pos (OsvdiTestClient * client, gint x,
    gint y, guint ms);

/* How many display channels the server offered. */
guint osvdi_test_client_displays (OsvdiTestClient * client);

G_END_DECLS
