/* OSVDI - a real SPICE client (spice-client-glib) for tests and benchmarks
 * SPDX-License-Identifier: Apache-2.0
 */
#include "osvdi-test-client.h"
#include "osvdikeys.h"

#include <spice-client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

struct _OsvdiTestClient
{
  SpiceSession *session;
  SpiceMainChannel *main;
  SpiceDisplayChannel *display;
  SpiceInputsChannel *inputs;
  gint main_event;
  gboolean inputs_open;
  guint frames;
  guint button_state;
  guint channels;               /* created and not yet destroyed */
  guint displays;
  gboolean cursor_seen;
  gint cursor_w, cursor_h, cursor_hx, cursor_hy;
  guint32 cursor_pixel;
  gint cursor_x, cursor_y;
  OsvdiTestClientFrameFunc frame_func;
  gpointer frame_data;
  OsvdiTestClientMakeSink make_sink;
  gpointer make_sink_data;
  guint64 audio_bytes, audio_nonzero_bytes;
};

static void
cursor_set (SpiceChannel * channel, gint width, gint height, gint hot_x,
    gint hot_y, gpointer rgba, gpointer user_data)
{
  OsvdiTestClient *client = user_data;
  SpiceCursorShape *shape = NULL;
  const guint8 *p;

  client->cursor_seen = TRUE;
  client->cursor_w = width;
  client->cursor_h = height;
  client->cursor_hx = hot_x;
  client->cursor_hy = hot_y;
  /* The signal's own pixel argument is deprecated; the "cursor" property
   * holds the shape, converted to R G B A in memory. */
  g_object_get (channel, "cursor", &shape, NULL);
  p = shape ? shape->data : NULL;
  client->cursor_pixel = p ? ((guint32) p[3] << 24) | (p[0] << 16)
      | (p[1] << 8) | p[2] : 0;
  if (shape)
    g_boxed_free (SPICE_TYPE_CURSOR_SHAPE, shape);
}

static void
cursor_move (SpiceChannel * channel, gint x, gint y, gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  client->cursor_x = x;
  client->cursor_y = y;
}

static void
main_channel_event (SpiceChannel * channel, SpiceChannelEvent event,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  client->main_event = event;
}

static void
inputs_channel_event (SpiceChannel * channel, SpiceChannelEvent event,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  client->inputs_open = event == SPICE_CHANNEL_OPENED;
}

static void
display_invalidate (SpiceChannel * channel, gint x, gint y, gint w, gint h,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  client->frames++;
  if (client->frame_func)
    client->frame_func (client, client->frame_data);
}

static gboolean
gst_video_overlay (SpiceChannel * channel, GObject * pipeline,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  if (!client->make_sink)
    return FALSE;               /* spice-gtk's appsink path */
  g_object_set (pipeline, "video-sink", client->make_sink
      (client->make_sink_data), NULL);
  return TRUE;
}

static void
playback_data (SpicePlaybackChannel * channel, gpointer data, gint size,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;
  const guint8 *bytes = data;
  gint i;

  client->audio_bytes += size;
  for (i = 0; i < size; i++)
    if (bytes[i])
      client->audio_nonzero_bytes++;
}

static void
channel_new (SpiceSession * session, SpiceChannel * channel,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  client->channels++;
  if (SPICE_IS_MAIN_CHANNEL (channel)) {
    client->main = SPICE_MAIN_CHANNEL (channel);
    g_signal_connect (channel, "channel-event",
        G_CALLBACK (main_channel_event), client);
    return;
  }
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    client->displays++;
  if (SPICE_IS_DISPLAY_CHANNEL (channel) && !client->display) {
    client->display = SPICE_DISPLAY_CHANNEL (channel);
    g_signal_connect (channel, "display-invalidate",
        G_CALLBACK (display_invalidate), client);
    g_signal_connect (channel, "gst-video-overlay",
        G_CALLBACK (gst_video_overlay), client);
  } else if (SPICE_IS_CURSOR_CHANNEL (channel)) {
    g_signal_connect (channel, "cursor-set", G_CALLBACK (cursor_set), client);
    g_signal_connect (channel, "cursor-move", G_CALLBACK (cursor_move),
        client);
  } else if (SPICE_IS_INPUTS_CHANNEL (channel)) {
    client->inputs = SPICE_INPUTS_CHANNEL (channel);
    g_signal_connect (channel, "channel-event",
        G_CALLBACK (inputs_channel_event), client);
  } else if (SPICE_IS_PLAYBACK_CHANNEL (channel)) {
    g_signal_connect (channel, "playback-data", G_CALLBACK (playback_data),
        client);
    /* The audio backend (spice_audio_get) connects it, and only a channel
     * it connects itself: connecting it here would leave it without one. */
    return;
  } else if (SPICE_IS_RECORD_CHANNEL (channel)) {
    return;
  }
  spice_channel_connect (channel);
}

static void
channel_destroy (SpiceSession * session, SpiceChannel * channel,
    gpointer user_data)
{
  OsvdiTestClient *client = user_data;

  g_signal_handlers_disconnect_by_data (channel, client);
  client->channels--;
  if ((gpointer) channel == (gpointer) client->main)
    client->main = NULL;
  if ((gpointer) channel == (gpointer) client->display)
    client->display = NULL;
  if ((gpointer) channel == (gpointer) client->inputs) {
    client->inputs = NULL;
    client->inputs_open = FALSE;
  }
}

OsvdiTestClient *
osvdi_test_client_new (const OsvdiTestClientConfig * cfg)
{
  OsvdiTestClient *client = g_new0 (OsvdiTestClient, 1);
  gchar *port = cfg->port ? g_strdup_printf ("%d", cfg->port) : NULL;
  gchar *tls_port = cfg->tls_port ? g_strdup_printf ("%d", cfg->tls_port)
      : NULL;

  client->session = spice_session_new ();
  g_object_set (client->session, "host", cfg->host ? cfg->host : "127.0.0.1",
      NULL);
  if (port)
    g_object_set (client->session, "port", port, NULL);
  if (tls_port)
    g_object_set (client->session, "tls-port", tls_port, NULL);
  if (cfg->password)
    g_object_set (client->session, "password", cfg->password, NULL);
  if (cfg->ca_file)
    g_object_set (client->session, "ca-file", cfg->ca_file, NULL);
  /* No audio, USB or shared folders: only what a desktop stream needs. */
  g_object_set (client->session, "enable-audio", cfg->audio,
      "enable-usbredir", FALSE, NULL);
  g_signal_connect (client->session, "channel-new", G_CALLBACK (channel_new),
      client);
  /* Like remote-viewer: an audio backend that plays what arrives. */
  if (cfg->audio)
    spice_audio_get (client->session, NULL);
  g_signal_connect (client->session, "channel-destroy",
      G_CALLBACK (channel_destroy), client);
  g_free (port);
  g_free (tls_port);
  return client;
}

gboolean
osvdi_test_client_connect (OsvdiTestClient * client)
{
  client->main_event = 0;
  client->frames = 0;
  client->displays = 0;
  return spice_session_connect (client->session);
}

static gboolean wait_for (OsvdiTestClient * client,
    gboolean (*cond) (OsvdiTestClient *, gpointer), gpointer data, guint ms);

static gboolean
no_channels (OsvdiTestClient * client, gpointer data)
{
  return client->channels == 0;
}

void
osvdi_test_client_disconnect (OsvdiTestClient * client)
{
  spice_session_disconnect (client->session);
  /* The channels' coroutines still run after the call: the session must
   * outlive them all. */
  wait_for (client, no_channels, NULL, 5000);
}

void
osvdi_test_client_free (OsvdiTestClient * client)
{
  GList *channels, *l;

  if (!client)
    return;
  osvdi_test_client_disconnect (client);
  /* Channels that are still closing must not call back into freed memory. */
  channels = spice_session_get_channels (client->session);
  for (l = channels; l; l = l->next)
    g_signal_handlers_disconnect_by_data (l->data, client);
  g_list_free (channels);
  g_signal_handlers_disconnect_by_data (client->session, client);
  g_object_unref (client->session);
  g_free (client);
}

void
osvdi_test_client_iterate (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  GMainContext *ctx = g_main_context_get_thread_default ();

  while (g_get_monotonic_time () < end) {
    if (!g_main_context_iteration (ctx, FALSE))
      g_usleep (1000);
  }
}

static gboolean
wait_for (OsvdiTestClient * client,
    gboolean (*cond) (OsvdiTestClient *, gpointer), gpointer data, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  GMainContext *ctx = g_main_context_get_thread_default ();

  while (!cond (client, data)) {
    if (g_get_monotonic_time () >= end)
      return FALSE;
    if (!g_main_context_iteration (ctx, FALSE))
      g_usleep (1000);
  }
  return TRUE;
}

static gboolean
main_settled (OsvdiTestClient * client, gpointer data)
{
  return client->main_event != 0;
}

gboolean
osvdi_test_client_type (OsvdiTestClient * client, const gchar * text,
    guint ms, gchar * bad)
{
  for (; *text; text++) {
    gchar name[2] = { *text, 0 };
    const gchar *key = *text == ' ' ? "space" : *text == '-' ? "minus"
        : *text == '\n' ? "Return" : *text == '/' ? "slash"
        : *text == '.' ? "period" : name;
    guint sc = osvdi_key_name_to_scancode (key);

    if (sc == 0) {
      if (bad)
        *bad = *text;
      return FALSE;
    }
    osvdi_test_client_key (client, sc, TRUE);
    osvdi_test_client_iterate (ms);
    osvdi_test_client_key (client, sc, FALSE);
    osvdi_test_client_iterate (ms);
  }
  return TRUE;
}

gboolean
osvdi_test_client_wait_open (OsvdiTestClient * client, guint ms, gint * event)
{
  gboolean ok = wait_for (client, main_settled, NULL, ms);

  if (event)
    *event = client->main_event;
  return ok && client->main_event == SPICE_CHANNEL_OPENED;
}

OsvdiTestClient *
osvdi_test_client_open_until (const OsvdiTestClientConfig * cfg,
    gint64 end_us)
{
  while (g_get_monotonic_time () < end_us) {
    OsvdiTestClient *client = osvdi_test_client_new (cfg);

    osvdi_test_client_connect (client);
    if (osvdi_test_client_wait_open (client, 10000, NULL))
      return client;
    osvdi_test_client_free (client);
    g_usleep (G_USEC_PER_SEC);  /* the server is not up yet */
  }
  return NULL;
}

guint
osvdi_test_client_frames (OsvdiTestClient * client)
{
  return client->frames;
}

static gboolean
enough_frames (OsvdiTestClient * client, gpointer data)
{
  return client->frames >= GPOINTER_TO_UINT (data);
}

gboolean
osvdi_test_client_wait_frames (OsvdiTestClient * client, guint n, guint ms)
{
  return wait_for (client, enough_frames, GUINT_TO_POINTER (n), ms);
}

gboolean
osvdi_test_client_size (OsvdiTestClient * client, gint * width, gint * height)
{
  SpiceDisplayPrimary primary;

  if (!client->display || !spice_display_channel_get_primary (SPICE_CHANNEL
          (client->display), 0, &primary))
    return FALSE;
  *width = primary.width;
  *height = primary.height;
  return TRUE;
}

gboolean
osvdi_test_client_pixel (OsvdiTestClient * client, gint x, gint y,
    guint32 * rgb)
{
  SpiceDisplayPrimary primary;
  const guint8 *p;

  if (!client->display || !spice_display_channel_get_primary (SPICE_CHANNEL
          (client->display), 0, &primary) || !primary.data)
    return FALSE;
  if (x < 0 || y < 0 || x >= primary.width || y >= primary.height)
    return FALSE;
  /* 32-bit xRGB, little-endian: B G R x in memory. */
  p = primary.data + (gsize) y * primary.stride + (gsize) x * 4;
  *rgb = (p[2] << 16) | (p[1] << 8) | p[0];
  return TRUE;
}

gboolean
osvdi_test_client_primary (OsvdiTestClient * client, guint8 ** pixels,
    gint * stride, gint * width, gint * height)
{
  SpiceDisplayPrimary primary;

  if (!client->display || !spice_display_channel_get_primary (SPICE_CHANNEL
          (client->display), 0, &primary) || !primary.data)
    return FALSE;
  *pixels = primary.data;
  *stride = primary.stride;
  *width = primary.width;
  *height = primary.height;
  return TRUE;
}

gboolean
osvdi_rgb_near (guint32 a, guint32 b, guint tolerance)
{
  guint shift;

  for (shift = 0; shift <= 16; shift += 8) {
    gint ca = (a >> shift) & 0xff, cb = (b >> shift) & 0xff;

    if ((guint) ABS (ca - cb) > tolerance)
      return FALSE;
  }
  return TRUE;
}

typedef struct
{
  gint x, y;
  guint32 rgb;
  guint tolerance;
} PixelWant;

static gboolean
pixel_matches (OsvdiTestClient * client, gpointer data)
{
  PixelWant *want = data;
  guint32 rgb;

  return osvdi_test_client_pixel (client, want->x, want->y, &rgb)
      && osvdi_rgb_near (rgb, want->rgb, want->tolerance);
}

gboolean
osvdi_test_client_wait_pixel (OsvdiTestClient * client, gint x, gint y,
    guint32 rgb, guint tolerance, guint ms)
{
  PixelWant want = { x, y, rgb, tolerance };

  return wait_for (client, pixel_matches, &want, ms);
}

static gboolean
inputs_open (OsvdiTestClient * client, gpointer data)
{
  return client->inputs && client->inputs_open;
}

gboolean
osvdi_test_client_wait_inputs (OsvdiTestClient * client, guint ms)
{
  return wait_for (client, inputs_open, NULL, ms);
}

void
osvdi_test_client_key (OsvdiTestClient * client, guint scancode,
    gboolean press)
{
  g_return_if_fail (client->inputs);
  if (press)
    spice_inputs_channel_key_press (client->inputs, scancode);
  else
    spice_inputs_channel_key_release (client->inputs, scancode);
}

void
osvdi_test_client_motion (OsvdiTestClient * client, gint dx, gint dy)
{
  g_return_if_fail (client->inputs);
  spice_inputs_channel_motion (client->inputs, dx, dy, client->button_state);
}

static guint
button_mask (gint button)
{
  switch (button) {
    case SPICE_MOUSE_BUTTON_LEFT:
      return SPICE_MOUSE_BUTTON_MASK_LEFT;
    case SPICE_MOUSE_BUTTON_MIDDLE:
      return SPICE_MOUSE_BUTTON_MASK_MIDDLE;
    case SPICE_MOUSE_BUTTON_RIGHT:
      return SPICE_MOUSE_BUTTON_MASK_RIGHT;
    default:
      return 0;
  }
}

void
osvdi_test_client_button (OsvdiTestClient * client, gint button,
    gboolean press)
{
  g_return_if_fail (client->inputs);
  if (press) {
    client->button_state |= button_mask (button);
    spice_inputs_channel_button_press (client->inputs, button,
        client->button_state);
  } else {
    client->button_state &= ~button_mask (button);
    spice_inputs_channel_button_release (client->inputs, button,
        client->button_state);
  }
}

void
osvdi_test_client_position (OsvdiTestClient * client, gint x, gint y)
{
  g_return_if_fail (client->inputs);
  spice_inputs_channel_position (client->inputs, x, y, 0,
      client->button_state);
}

gint
osvdi_test_client_mouse_mode (OsvdiTestClient * client)
{
  gint mode = 0;

  if (client->main)
    g_object_get (client->main, "mouse-mode", &mode, NULL);
  return mode;
}

static gboolean
mouse_mode_is (OsvdiTestClient * client, gpointer data)
{
  return osvdi_test_client_mouse_mode (client) == GPOINTER_TO_INT (data);
}

gboolean
osvdi_test_client_wait_mouse_mode (OsvdiTestClient * client, gint mode,
    guint ms)
{
  return wait_for (client, mouse_mode_is, GINT_TO_POINTER (mode), ms);
}

guint
osvdi_test_client_displays (OsvdiTestClient * client)
{
  return client->displays;
}

static gboolean
cursor_seen (OsvdiTestClient * client, gpointer data)
{
  return client->cursor_seen;
}

gboolean
osvdi_test_client_wait_cursor (OsvdiTestClient * client, guint ms)
{
  return wait_for (client, cursor_seen, NULL, ms);
}

void
osvdi_test_client_cursor (OsvdiTestClient * client, gint * width,
    gint * height, gint * hot_x, gint * hot_y, guint32 * first_pixel)
{
  *width = client->cursor_w;
  *height = client->cursor_h;
  *hot_x = client->cursor_hx;
  *hot_y = client->cursor_hy;
  *first_pixel = client->cursor_pixel;
}

static gboolean
cursor_at (OsvdiTestClient * client, gpointer data)
{
  const gint *xy = data;

  return client->cursor_x == xy[0] && client->cursor_y == xy[1];
}

gboolean
osvdi_test_client_wait_cursor_pos (OsvdiTestClient * client, gint x, gint y,
    guint ms)
{
  gint xy[2] = { x, y };

  return wait_for (client, cursor_at, xy, ms);
}

void
osvdi_test_client_set_frame_func (OsvdiTestClient * client,
    OsvdiTestClientFrameFunc func, gpointer user_data)
{
  client->frame_func = func;
  client->frame_data = user_data;
}

void
osvdi_test_client_use_overlay_sink (OsvdiTestClient * client,
    OsvdiTestClientMakeSink make, gpointer user_data)
{
  client->make_sink = make;
  client->make_sink_data = user_data;
}

gint
osvdi_test_client_free_port (void)
{
  struct sockaddr_in addr = {.sin_family = AF_INET };
  socklen_t len = sizeof (addr);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gint port;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0
      || getsockname (fd, (struct sockaddr *) &addr, &len) < 0)
    g_error ("no free loopback port: %s", g_strerror (errno));
  port = ntohs (addr.sin_port);
  close (fd);
  return port;
}

void
osvdi_test_client_audio (OsvdiTestClient * client, guint64 * bytes,
    guint64 * nonzero_bytes)
{
  *bytes = client->audio_bytes;
  *nonzero_bytes = client->audio_nonzero_bytes;
}

guint
osvdi_test_client_lit_pixels (OsvdiTestClient * client, gint x0, gint y0,
    gint x1, gint y1)
{
  guint8 *px;
  gint stride, w, h, x, y;
  guint n = 0;

  if (!osvdi_test_client_primary (client, &px, &stride, &w, &h))
    return 0;
  for (y = MAX (y0, 0); y < MIN (y1, h); y++)
    for (x = MAX (x0, 0); x < MIN (x1, w); x++) {
      const guint8 *p = px + (gsize) y * stride + x * 4;

      if (p[0] > 128 && p[1] > 128 && p[2] > 128)
        n++;
    }
  return n;
}
