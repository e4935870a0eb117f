/* OSVDI - spicesink
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * SECTION:element-spicesink
 * @title: spicesink
 *
 * Serves an already-encoded video stream to SPICE clients (remote-viewer,
 * spice-gtk) through an embedded spice-server, without re-encoding: the
 * frames travel through spice-server's stream device
 * (`org.spice-space.stream.0`, `spice/stream-device.h`). The clients'
 * keyboard and mouse come back upstream as GstNavigation events.
 *
 * A ticket (password) is required unless #GstSpiceSink:disable-ticketing is
 * set; the server listens on loopback unless #GstSpiceSink:address says
 * otherwise. Each new client restarts the stream: the sink asks upstream
 * for a keyframe and sends nothing until one arrives. A slow client never
 * makes frames pile up: at most two wait, later delta frames are dropped up
 * to the next keyframe, which is requested at once.
 *
 * ## The client's codecs
 *
 * SPICE clients decode different codecs: spice-html5 (a browser) takes VP8
 * and MJPEG only, remote-viewer H.264 too. spice-server tells the sink which
 * codecs the connected clients all decode when they start the stream, and
 * the sink passes that on upstream the GStreamer way: its sink pad answers
 * the CAPS query with the template narrowed to those codecs, in
 * spice-server's order (with no client, the whole template, so a pipeline
 * starts on its first-choice codec), and a RECONFIGURE event goes upstream
 * whenever that answer changes. An upstream that can follow (spiceencbin)
 * switches its encoder; when the new caps arrive the stream restarts with
 * the new format and a keyframe. When upstream cannot follow (a plain
 * encoder: a CAPS query with the client's codecs finds none it produces),
 * a CODEC_NOT_FOUND warning goes on the bus, nothing is sent to that client,
 * and the CAPS query offers the current codec after the client's, so that
 * upstream can still renegotiate (a mode change in the guest). Caps are
 * accepted against the template, not the client's list: a running encoder
 * goes on until it is switched.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! videoconvert ! \
 *     x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! \
 *     spicesink port=5900 password=secret
 * ]| Then `remote-viewer spice://127.0.0.1:5900` (password "secret").
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! vp8enc deadline=1 ! \
 *     spicesink port=5900 disable-ticketing=true
 * ]| VP8, without a ticket (only for a trusted network).
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! spiceencbin ! \
 *     spicesink port=5900 password=secret
 * ]| Each client gets a codec it decodes: H.264 for remote-viewer, VP8 for
 * spice-html5 (see spiceencbin).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/* Where things are: this file keeps the element (properties, lifecycle,
 * caps, the client's start/stop and the keyframe policy);
 * spicesinkserver.c runs spice-server on its thread, spicesinkinput.c turns
 * SPICE input into GstNavigation, spicesinkqueue.c holds what waits for
 * spice-server with its drop policy, spicestream.c speaks the stream-device
 * protocol. */
#include "gstspicesink.h"
#include "spicesinkqueue.h"
#include "spicesinkinput.h"
#include "spicesinkserver.h"
#include "spicestream.h"
#include "osvdicursor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <spice/protocol.h>
#include <gst/video/video.h>
#include <gst/video/navigation.h>

GST_DEBUG_CATEGORY (gst_spice_sink_debug);
#define GST_CAT_DEFAULT gst_spice_sink_debug

#define DEFAULT_ADDRESS "127.0.0.1"
#define DEFAULT_PORT 5900
#define DEFAULT_TLS_PORT 0
#define DEFAULT_PASSWORD_LIFETIME 0
#define DEFAULT_DISABLE_TICKETING FALSE
#define DEFAULT_ABSOLUTE_POINTER TRUE
#define DEFAULT_H264_FRAME_END TRUE
#define DEFAULT_AUDIO_CLOCK TRUE

/* Settings that start() hands to the server: GStreamer has no "NULL only"
 * flag, so these carry none of GST_PARAM_MUTABLE_* (gst-inspect then names
 * no state) and set_property refuses them while the server runs, with a
 * warning on the bus. A user flag bit of GParamSpec marks them. */
#define OSVDI_PARAM_SERVER_SETTING GST_PARAM_USER_SHIFT

/* Frames waiting for spice-server, the one it is reading included. */
#define MAX_WAITING_FRAMES 2

enum
{
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_TLS_PORT,
  PROP_X509_DIR,
  PROP_PASSWORD,
  PROP_PASSWORD_FILE,
  PROP_PASSWORD_LIFETIME,
  PROP_DISABLE_TICKETING,
  PROP_ABSOLUTE_POINTER,
  PROP_H264_FRAME_END,
  PROP_AUDIO_CLOCK,
  PROP_STATS,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

/* Sent after each H.264 access unit: an access unit delimiter and a
 * user-data-unregistered SEI, both belonging to the next access unit (the
 * stream stays conformant). spice-gtk 0.42 gives its h264parse caps without
 * alignment, so the parser can only finish a frame once a complete NAL of
 * the next one has arrived: without this tail every frame waits a whole
 * frame interval in the client (see the README's latency table). */
static const guint8 h264_frame_end[] = {
  0x00, 0x00, 0x00, 0x01, 0x09, 0xf0,   /* AUD, any slice type */
  0x00, 0x00, 0x00, 0x01, 0x06, 0x05, 0x11,     /* SEI: user data, 17 bytes */
  'O', 'S', 'V', 'D', 'I', '-', 'f', 'r', 'a', 'm', 'e', '-', 'e', 'n', 'd',
  '!', 0x01, 0x80,
};


struct _GstSpiceSink
{
  GstBaseSink parent;

  /* Settings: GST_OBJECT_LOCK. */
  gchar *address;
  gint port;
  gint tls_port;
  gchar *x509_dir;
  gchar *password;
  gchar *password_file;
  guint password_lifetime;
  gboolean disable_ticketing;
  gboolean absolute_pointer;
  gboolean h264_frame_end_setting;
  gboolean audio_clock;
  /* Between a successful start() and stop(): the settings above that
   * start() hands to the server are refused then (they change nothing until
   * the next NULL -> READY, and READY keeps the server running). */
  gboolean server_running;

  /* Written in start()/stop() only, on the state-change thread. */
  GThreadPool *upstream;        /* pushes events upstream, in order */
  OsvdiSpiceInput input;        /* the server thread's */
  OsvdiStreamParser parser;     /* the server thread's */

  /* Stream state: `lock`. Shared by the streaming thread (render, caps,
   * events) and the server thread (read/write callbacks). Nothing is pushed,
   * posted, freed or called into spice-server with it held. */
  GMutex lock;
  OsvdiSpiceServer *server;     /* set in start(), cleared in stop() */
  OsvdiSinkQueue queue;
  gboolean client_started;      /* a client asked for the stream */
  gboolean streaming;           /* ...and can decode our codec */
  gboolean keyframe_requested;
  guint8 client_codecs[16];
  guint n_client_codecs;
  /* The client cannot decode our codec and upstream (as far as we know)
   * cannot produce one it does: the CAPS query then offers our codec after
   * the client's, so that upstream can still renegotiate (a plain encoder
   * proxies our caps to its source). Provisional from START_STOP until the
   * upstream thread has asked. */
  gboolean upstream_stuck;
  gint codec;                   /* SpiceVideoCodecType or -1 */
  guint width, height;
  GBytes *cursor_shape;         /* last cursor, for new clients */
  guint64 keyframes_requested;
  guint clients;
  gboolean client_mouse;        /* absolute pointer route set up */
  gboolean h264_frame_end;      /* copied from the setting at start */
};

#define gst_spice_sink_parent_class parent_class
G_DEFINE_TYPE (GstSpiceSink, gst_spice_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (spicesink, "spicesink", GST_RANK_NONE,
    GST_TYPE_SPICE_SINK);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-h264, stream-format=byte-stream, alignment=au; "
        "video/x-h265, stream-format=byte-stream, alignment=au; "
        "video/x-vp8; video/x-vp9; image/jpeg"));

static void
wakeup_locked (GstSpiceSink * self)
{
  if (self->server)
    osvdi_spice_server_wakeup (self->server);
}

static void
queue_format_locked (GstSpiceSink * self)
{
  if (self->codec < 0 || self->width == 0 || self->height == 0)
    return;
  osvdi_sink_queue_push_control (&self->queue,
      osvdi_stream_msg_format (self->width, self->height, self->codec),
      FALSE);
  wakeup_locked (self);
}

static void
queue_cursor_locked (GstSpiceSink * self, OsvdiSinkMsgKind kind,
    GBytes * bytes)
{
  if (osvdi_sink_queue_push_cursor (&self->queue, kind, bytes))
    wakeup_locked (self);
}

static gboolean
client_accepts_codec_locked (GstSpiceSink * self)
{
  guint i;

  for (i = 0; i < self->n_client_codecs; i++)
    if (self->client_codecs[i] == self->codec)
      return TRUE;
  return FALSE;
}

static gchar *
client_codecs_string_locked (GstSpiceSink * self)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < self->n_client_codecs; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "",
        osvdi_stream_codec_name (self->client_codecs[i]));
  return g_string_free (s, FALSE);
}

static gint
codec_from_caps (const GstStructure * s)
{
  if (gst_structure_has_name (s, "video/x-h264"))
    return SPICE_VIDEO_CODEC_TYPE_H264;
  if (gst_structure_has_name (s, "video/x-h265"))
    return SPICE_VIDEO_CODEC_TYPE_H265;
  if (gst_structure_has_name (s, "video/x-vp8"))
    return SPICE_VIDEO_CODEC_TYPE_VP8;
  if (gst_structure_has_name (s, "video/x-vp9"))
    return SPICE_VIDEO_CODEC_TYPE_VP9;
  if (gst_structure_has_name (s, "image/jpeg"))
    return SPICE_VIDEO_CODEC_TYPE_MJPEG;
  return -1;
}

/* The template's structures for @codecs, in that order: what the clients
 * decode, as caps. */
static GstCaps *
caps_for_codecs (GstCaps * tmpl, const guint8 * codecs, guint n)
{
  GstCaps *caps = gst_caps_new_empty ();
  guint i, j;

  for (i = 0; i < n; i++)
    for (j = 0; j < gst_caps_get_size (tmpl); j++)
      if (codec_from_caps (gst_caps_get_structure (tmpl, j)) == codecs[i])
        gst_caps_append_structure (caps,
            gst_structure_copy (gst_caps_get_structure (tmpl, j)));
  return caps;
}

/* ------------------------------------------------------------------------ */
/* Upstream events                                                          */

static void
warn_codec_not_accepted (GstSpiceSink * self, gint codec, gchar * accepted)
{
  GST_ELEMENT_WARNING (self, STREAM, CODEC_NOT_FOUND,
      ("The SPICE client cannot decode %s; it accepts %s. Nothing is sent "
          "until the stream's codec changes or another client connects.",
          osvdi_stream_codec_name (codec), accepted),
      ("codec negotiated upstream is not in the client's START_STOP list, "
          "and upstream cannot produce any of the client's codecs"));
  g_free (accepted);
}

/* On the upstream thread, before the RECONFIGURE that goes with it: can
 * upstream produce any of the codecs @query carries (the client's)? If so,
 * the CAPS query narrows to them for the RECONFIGURE; if not, and the
 * client still cannot decode our codec, say so. */
static void
check_upstream_follows (GstSpiceSink * self, GstQuery * query)
{
  GstCaps *caps = NULL;
  gboolean follows;
  gchar *accepted = NULL;
  gint codec;

  follows = gst_pad_peer_query (GST_BASE_SINK_PAD (self), query);
  if (follows) {
    gst_query_parse_caps_result (query, &caps);
    follows = caps && !gst_caps_is_empty (caps);
  }
  GST_DEBUG_OBJECT (self, "upstream can%s produce the client's codecs: %"
      GST_PTR_FORMAT, follows ? "" : "not", caps);

  g_mutex_lock (&self->lock);
  codec = self->codec;
  if (follows)
    self->upstream_stuck = FALSE;
  else if (self->client_started && codec >= 0
      && !client_accepts_codec_locked (self))
    accepted = client_codecs_string_locked (self);
  g_mutex_unlock (&self->lock);
  if (accepted)
    warn_codec_not_accepted (self, codec, accepted);
}

/* The upstream thread's work, in order: events to push, and CAPS queries
 * that ask whether upstream can follow the client's codecs. */
static void
push_upstream_func (gpointer data, gpointer user_data)
{
  GstSpiceSink *self = user_data;

  if (GST_IS_EVENT (data)) {
    GST_LOG_OBJECT (self, "pushing %" GST_PTR_FORMAT, data);
    gst_pad_push_event (GST_BASE_SINK_PAD (self), GST_EVENT (data));
  } else {
    check_upstream_follows (self, GST_QUERY (data));
    gst_query_unref (GST_QUERY (data));
  }
}

/* Upstream events and queries leave from a thread of their own: they run
 * upstream elements' handlers (an encoder takes its stream lock, spiceencbin
 * swaps its encoder), which must neither stall spice-server's thread nor run
 * under our locks. Takes @obj (a GstEvent or a GstQuery). */
static void
push_upstream_object (GstSpiceSink * self, GstMiniObject * obj)
{
  if (self->upstream)
    g_thread_pool_push (self->upstream, obj, NULL);
  else
    gst_mini_object_unref (obj);
}

static void
push_upstream (GstSpiceSink * self, GstEvent * event)
{
  push_upstream_object (self, GST_MINI_OBJECT_CAST (event));
}

static void
request_keyframe (GstSpiceSink * self)
{
  GST_DEBUG_OBJECT (self, "requesting a keyframe upstream");
  g_mutex_lock (&self->lock);
  self->keyframes_requested++;
  g_mutex_unlock (&self->lock);
  push_upstream (self, gst_video_event_new_upstream_force_key_unit
      (GST_CLOCK_TIME_NONE, TRUE, 0));
  /* Encoders consume the request; a source that pushes only on change
   * (vfiodmabufsrc on QEMU's display) needs its own word to send a frame
   * for the encoder to make that keyframe of. */
  push_upstream (self, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
          gst_structure_new_empty ("osvdi/refresh")));
}

/* ------------------------------------------------------------------------ */
/* The server's callbacks: all on the server thread                         */

static void
input_push (GstEvent * event, gpointer user_data)
{
  push_upstream (user_data, event);
}

static void
input_size (guint * width, guint * height, gpointer user_data)
{
  GstSpiceSink *self = user_data;

  g_mutex_lock (&self->lock);
  *width = self->width;
  *height = self->height;
  g_mutex_unlock (&self->lock);
}

/* (Re)starts the stream for the clients: FORMAT, the cursor shape, then
 * frames from the next keyframe. When the clients cannot decode our codec,
 * nothing is sent (it would only break their decoder) and @accepted receives
 * the codecs they can decode. */
static void
restart_stream_locked (GstSpiceSink * self, gchar ** accepted, GQueue * trash)
{
  osvdi_sink_queue_restart (&self->queue, trash);
  self->streaming = FALSE;
  self->keyframe_requested = FALSE;
  if (!self->client_started)
    return;
  if (self->codec >= 0 && !client_accepts_codec_locked (self)) {
    *accepted = client_codecs_string_locked (self);
    return;
  }
  self->streaming = TRUE;
  queue_format_locked (self);
  if (self->cursor_shape)
    queue_cursor_locked (self, OSVDI_SINK_MSG_CURSOR_SET,
        g_bytes_ref (self->cursor_shape));
}

/* spice-server's START_STOP lists the codecs every connected client
 * decodes (in its codec enum's order, MJPEG always among them); 0 codecs
 * when the last client leaves. The list is our CAPS query's answer, so a
 * new list sends RECONFIGURE upstream. When the client cannot decode the
 * current codec, a CAPS query first asks upstream whether it can produce
 * one the client decodes; only if not, a warning (and upstream keeps its
 * codec: see upstream_stuck). */
static void
handle_start_stop (GstSpiceSink * self, const guint8 * payload, guint32 size)
{
  guint8 codecs[G_N_ELEMENTS (self->client_codecs)];
  gint n = osvdi_stream_parse_start_stop (payload, size, codecs,
      G_N_ELEMENTS (codecs));
  gboolean request, changed;
  gchar *accepted = NULL;
  GQueue trash = G_QUEUE_INIT;
  GstCaps *tmpl, *client_caps = NULL;

  if (n < 0) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("spice-server sent a malformed start/stop message"),
        ("START_STOP payload of %u bytes", size));
    return;
  }

  tmpl = gst_pad_get_pad_template_caps (GST_BASE_SINK_PAD (self));
  g_mutex_lock (&self->lock);
  changed = (guint) n != self->n_client_codecs
      || memcmp (self->client_codecs, codecs, n) != 0;
  memcpy (self->client_codecs, codecs, n);
  self->n_client_codecs = n;
  /* Every start restarts the stream for every client. */
  self->client_started = n > 0;
  restart_stream_locked (self, &accepted, &trash);
  request = self->streaming;
  self->keyframe_requested = request;
  self->upstream_stuck = accepted != NULL;
  if (accepted)
    client_caps = caps_for_codecs (tmpl, codecs, n);
  g_mutex_unlock (&self->lock);
  osvdi_sink_queue_free_trash (&trash);
  gst_caps_unref (tmpl);

  GST_INFO_OBJECT (self, "client %s the stream (%d codecs%s%s)",
      n > 0 ? "starts" : "stops", n, accepted ? ", not ours: " : "",
      accepted ? accepted : "");
  g_free (accepted);
  if (client_caps) {
    push_upstream_object (self,
        GST_MINI_OBJECT_CAST (gst_query_new_caps (client_caps)));
    gst_caps_unref (client_caps);
  }
  if (changed || client_caps)
    push_upstream (self, gst_event_new_reconfigure ());
  if (request)
    request_keyframe (self);
}

static void
handle_device_msg (guint16 type, const guint8 * payload, guint32 size,
    gpointer user_data)
{
  GstSpiceSink *self = user_data;

  switch (type) {
    case STREAM_TYPE_CAPABILITIES:
      /* The server announces itself; we answer with ours (none), first. */
      g_mutex_lock (&self->lock);
      osvdi_sink_queue_push_control (&self->queue,
          osvdi_stream_msg_capabilities (), TRUE);
      wakeup_locked (self);
      g_mutex_unlock (&self->lock);
      break;
    case STREAM_TYPE_START_STOP:
      handle_start_stop (self, payload, size);
      break;
    case STREAM_TYPE_NOTIFY_ERROR:{
      gchar *text = size > 4 ? g_strndup ((const gchar *) payload + 4,
          size - 4) : g_strdup ("(no message)");

      GST_ELEMENT_WARNING (self, STREAM, FAILED,
          ("spice-server reported a stream error: %s", text), (NULL));
      g_free (text);
      break;
    }
    default:
      GST_DEBUG_OBJECT (self, "ignoring stream device message type %u", type);
      break;
  }
}

static void
server_port_write (const guint8 * buf, gsize len, gpointer user_data)
{
  GstSpiceSink *self = user_data;
  GError *error = NULL;

  if (!osvdi_stream_parser_feed (&self->parser, buf, len, handle_device_msg,
          self, &error)) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Garbage from spice-server's stream device, discarded"),
        ("%s", error->message));
    g_clear_error (&error);
  }
}

static gsize
server_port_read (guint8 * buf, gsize len, gpointer user_data)
{
  GstSpiceSink *self = user_data;
  GQueue trash = G_QUEUE_INIT;
  gsize done;

  g_mutex_lock (&self->lock);
  done = osvdi_sink_queue_read (&self->queue, buf, len, &trash);
  g_mutex_unlock (&self->lock);
  osvdi_sink_queue_free_trash (&trash);
  return done;
}

static void
server_client_event (const gchar * what, const gchar * peer, gboolean tls,
    guint clients, gpointer user_data)
{
  GstSpiceSink *self = user_data;

  g_mutex_lock (&self->lock);
  self->clients = clients;
  g_mutex_unlock (&self->lock);

  GST_INFO_OBJECT (self, "client %s %s (%u connected)", peer, what, clients);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("spicesink/client", "event", G_TYPE_STRING, what,
              "peer", G_TYPE_STRING, peer, "tls", G_TYPE_BOOLEAN, tls,
              "clients", G_TYPE_UINT, clients, NULL)));
}

static const OsvdiSpiceServerCallbacks server_callbacks = {
  .port_write = server_port_write,
  .port_read = server_port_read,
  .client_event = server_client_event,
};

/* ------------------------------------------------------------------------ */
/* GstBaseSink                                                              */

static gboolean
check_x509_dir (GstSpiceSink * self, const gchar * dir)
{
  static const gchar *const files[] = {
    "ca-cert.pem", "server-cert.pem", "server-key.pem"
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *path = g_build_filename (dir, files[i], NULL);
    int err = access (path, R_OK) == 0 ? 0 : errno;

    if (err) {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("TLS file \"%s\" is missing or unreadable.", path),
          ("access: %s", g_strerror (err)));
      g_free (path);
      return FALSE;
    }
    g_free (path);
  }
  return TRUE;
}

static gboolean
gst_spice_sink_start (GstBaseSink * bsink)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  OsvdiSpiceServerConfig cfg = { 0 };
  OsvdiSpiceServer *server;
  GError *error = NULL;
  gchar *password_file, *debug = NULL;
  gboolean frame_end;

  GST_OBJECT_LOCK (self);
  cfg.address = g_strdup (self->address);
  cfg.port = self->port;
  cfg.tls_port = self->tls_port;
  cfg.x509_dir = g_strdup (self->x509_dir);
  cfg.password = g_strdup (self->password);
  cfg.password_lifetime = self->password_lifetime;
  cfg.disable_ticketing = self->disable_ticketing;
  cfg.absolute_pointer = self->absolute_pointer;
  cfg.audio_clock = self->audio_clock;
  frame_end = self->h264_frame_end_setting;
  password_file = g_strdup (self->password_file);
  GST_OBJECT_UNLOCK (self);

  if (password_file && !cfg.disable_ticketing) {
    gchar *contents = NULL;

    if (!g_file_get_contents (password_file, &contents, NULL, &error))
      goto no_password_file;
    /* The first line is the ticket. */
    contents[strcspn (contents, "\r\n")] = '\0';
    if (cfg.password)
      memset (cfg.password, 0, strlen (cfg.password));
    g_free (cfg.password);
    cfg.password = contents;
  }
  g_clear_pointer (&password_file, g_free);

  if (!cfg.disable_ticketing && (!cfg.password || !*cfg.password))
    goto no_ticket;
  if (cfg.port <= 0 && cfg.tls_port <= 0)
    goto no_port;
  if (cfg.tls_port > 0 && (!cfg.x509_dir || !*cfg.x509_dir))
    goto no_x509_dir;
  if (cfg.tls_port > 0 && !check_x509_dir (self, cfg.x509_dir))
    goto failed;
  if (cfg.tls_port > 0 && cfg.tls_port == cfg.port)
    goto same_ports;

  osvdi_stream_parser_reset (&self->parser);
  g_mutex_lock (&self->lock);
  self->h264_frame_end = frame_end;
  g_mutex_unlock (&self->lock);

  self->upstream = g_thread_pool_new_full (push_upstream_func, self,
      (GDestroyNotify) gst_mini_object_unref, 1, TRUE, &error);
  if (!self->upstream)
    goto no_thread;

  server = osvdi_spice_server_start (GST_OBJECT (self), &cfg, &self->input,
      &server_callbacks, self, &error, &debug);
  if (!server)
    goto server_failed;

  g_mutex_lock (&self->lock);
  self->server = server;
  self->client_mouse = cfg.absolute_pointer;
  g_mutex_unlock (&self->lock);
  GST_OBJECT_LOCK (self);
  self->server_running = TRUE;
  GST_OBJECT_UNLOCK (self);
  osvdi_spice_server_config_clear (&cfg);
  return TRUE;

  /* ERRORS */
no_password_file:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not read the SPICE ticket from \"%s\".", password_file),
        ("%s", error->message));
    g_clear_error (&error);
    g_free (password_file);
    goto failed;
  }
no_ticket:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No SPICE password set: set \"password\" or \"password-file\", or set "
            "\"disable-ticketing\" to allow clients without one."), (NULL));
    goto failed;
  }
no_port:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Neither \"port\" nor \"tls-port\" is set: the SPICE server would "
            "not listen anywhere."), (NULL));
    goto failed;
  }
no_x509_dir:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("\"tls-port\" needs \"x509-dir\" (with ca-cert.pem, server-cert.pem "
            "and server-key.pem)."), (NULL));
    goto failed;
  }
same_ports:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("\"port\" and \"tls-port\" are both %d.", cfg.port), (NULL));
    goto failed;
  }
no_thread:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start the SPICE server thread."), ("%s", error->message));
    g_clear_error (&error);
    goto failed;
  }
server_failed:
  {
    gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR,
        GST_RESOURCE_ERROR, error->code, g_strdup (error->message), debug,
        __FILE__, GST_FUNCTION, __LINE__);
    g_clear_error (&error);
    goto failed;
  }
failed:
  {
    /* stop() is not called after a failed start(). */
    GstBaseSinkClass *klass = GST_BASE_SINK_GET_CLASS (bsink);

    osvdi_spice_server_config_clear (&cfg);
    klass->stop (bsink);
    return FALSE;
  }
}

static gboolean
gst_spice_sink_stop (GstBaseSink * bsink)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  OsvdiSpiceServer *server;
  GQueue trash = G_QUEUE_INIT;

  GST_OBJECT_LOCK (self);
  self->server_running = FALSE;
  GST_OBJECT_UNLOCK (self);

  /* Nobody schedules work on the server once it is detached; its thread
   * still takes `lock` in its callbacks until it is joined. */
  g_mutex_lock (&self->lock);
  server = self->server;
  self->server = NULL;
  g_mutex_unlock (&self->lock);
  if (server)
    osvdi_spice_server_stop (server);
  if (self->upstream) {
    /* Events not yet pushed are dropped: the pipeline is going down. */
    g_thread_pool_free (self->upstream, TRUE, TRUE);
    self->upstream = NULL;
  }

  g_mutex_lock (&self->lock);
  osvdi_sink_queue_clear (&self->queue, &trash);
  self->client_started = FALSE;
  self->streaming = FALSE;
  self->keyframe_requested = FALSE;
  self->n_client_codecs = 0;
  self->upstream_stuck = FALSE;
  self->clients = 0;
  self->client_mouse = FALSE;
  /* The next run's caps say what its stream is: a client arriving before
   * them must not get this run's FORMAT. */
  self->codec = -1;
  self->width = self->height = 0;
  g_clear_pointer (&self->cursor_shape, g_bytes_unref);
  g_mutex_unlock (&self->lock);
  osvdi_sink_queue_free_trash (&trash);
  return TRUE;
}

/* With a started client, what it decodes (spice-server's order), and our
 * codec last while upstream cannot produce any of those; with no client,
 * the whole template. */
static GstCaps *
gst_spice_sink_get_caps (GstBaseSink * bsink, GstCaps * filter)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  GstCaps *tmpl = gst_pad_get_pad_template_caps (GST_BASE_SINK_PAD (bsink));
  GstCaps *caps;

  g_mutex_lock (&self->lock);
  if (self->client_started) {
    caps = caps_for_codecs (tmpl, self->client_codecs, self->n_client_codecs);
    if (self->upstream_stuck && self->codec >= 0) {
      guint8 codec = self->codec;

      caps = gst_caps_merge (caps, caps_for_codecs (tmpl, &codec, 1));
    }
  } else {
    caps = gst_caps_ref (tmpl);
  }
  g_mutex_unlock (&self->lock);
  gst_caps_unref (tmpl);

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (caps);
    caps = tmp;
  }
  GST_LOG_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);
  return caps;
}

static gboolean
gst_spice_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint codec = codec_from_caps (s);
  gint width = 0, height = 0;
  gchar *accepted = NULL;
  gboolean request = FALSE;
  GQueue trash = G_QUEUE_INIT;

  if (codec < 0)
    return FALSE;
  if (!gst_structure_get_int (s, "width", &width)
      || !gst_structure_get_int (s, "height", &height)
      || width <= 0 || height <= 0)
    goto no_size;

  g_mutex_lock (&self->lock);
  if (codec != self->codec || (guint) width != self->width
      || (guint) height != self->height) {
    self->codec = codec;
    self->width = width;
    self->height = height;
    /* Old frames do not belong to the new format: FORMAT, then frames from
     * a keyframe, asked for at once (upstream may have just switched its
     * encoder for this client, on a still screen). */
    if (self->client_started) {
      restart_stream_locked (self, &accepted, &trash);
      request = self->streaming;
      self->keyframe_requested = request;
      /* Upstream chose a codec the client does not decode: it cannot
       * follow the client. */
      self->upstream_stuck = accepted != NULL;
    }
  }
  g_mutex_unlock (&self->lock);
  osvdi_sink_queue_free_trash (&trash);

  GST_INFO_OBJECT (self, "stream is %s %dx%d", osvdi_stream_codec_name (codec),
      width, height);
  if (accepted)
    warn_codec_not_accepted (self, codec, accepted);
  if (request)
    request_keyframe (self);
  return TRUE;

  /* ERRORS */
no_size:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The stream's caps carry no width and height, which SPICE needs."),
        ("caps %" GST_PTR_FORMAT " (put a parser such as h264parse before "
            "spicesink)", caps));
    return FALSE;
  }
}

/* The keyframe policy: frames go to the queue only while a client watches
 * a codec it decodes; when the queue starts dropping (a new client, a slow
 * one), one keyframe is asked for until one arrives. */
static GstFlowReturn
gst_spice_sink_render (GstBaseSink * bsink, GstBuffer * buffer)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  gboolean keyframe = !GST_BUFFER_FLAG_IS_SET (buffer,
      GST_BUFFER_FLAG_DELTA_UNIT);
  gsize size = gst_buffer_get_size (buffer);
  OsvdiSinkPushResult result = OSVDI_SINK_QUEUED;
  gboolean request = FALSE;
  GQueue trash = G_QUEUE_INIT;

  if (size == 0)
    return GST_FLOW_OK;
  if (size > OSVDI_STREAM_MAX_DATA)
    goto too_big;

  g_mutex_lock (&self->lock);
  if (self->streaming) {
    gboolean tail = self->codec == SPICE_VIDEO_CODEC_TYPE_H264
        && self->h264_frame_end;

    result = osvdi_sink_queue_push_frame (&self->queue, buffer, keyframe,
        tail ? h264_frame_end : NULL, tail ? sizeof (h264_frame_end) : 0,
        &trash);
    if (result == OSVDI_SINK_QUEUED) {
      self->keyframe_requested = FALSE;
      wakeup_locked (self);
    }
    /* A keyframe is asked for only while a client watches: with none, the
     * next client's START_STOP asks for one. */
    if (self->queue.need_keyframe && !self->keyframe_requested) {
      self->keyframe_requested = TRUE;
      request = TRUE;
    }
  }
  g_mutex_unlock (&self->lock);
  osvdi_sink_queue_free_trash (&trash);

  if (result != OSVDI_SINK_QUEUED)
    GST_LOG_OBJECT (self, "dropped a frame");
  if (request)
    request_keyframe (self);
  return GST_FLOW_OK;

  /* ERRORS */
too_big:
  {
    GST_ELEMENT_WARNING (self, STREAM, ENCODE,
        ("Dropped a frame of %" G_GSIZE_FORMAT " bytes: SPICE limits frames "
            "to %d bytes.", size, OSVDI_STREAM_MAX_DATA), (NULL));
    return GST_FLOW_OK;
  }
}

static void
handle_cursor_set (GstSpiceSink * self, GstEvent * event)
{
  guint width, height, hot_x, hot_y;
  GstBuffer *pixels;
  GstMapInfo map;
  GBytes *msg = NULL, *old = NULL;

  if (!osvdi_cursor_event_parse_set (event, &width, &height, &hot_x, &hot_y,
          &pixels) || width > G_MAXUINT16 || height > G_MAXUINT16
      || hot_x > G_MAXUINT16 || hot_y > G_MAXUINT16)
    goto invalid;
  if (!gst_buffer_map (pixels, &map, GST_MAP_READ))
    goto invalid;
  msg = osvdi_stream_msg_cursor_set (width, height, hot_x, hot_y, map.data,
      map.size);
  gst_buffer_unmap (pixels, &map);
  if (!msg)
    goto invalid;

  g_mutex_lock (&self->lock);
  old = self->cursor_shape;
  self->cursor_shape = g_bytes_ref (msg);
  if (self->streaming)
    queue_cursor_locked (self, OSVDI_SINK_MSG_CURSOR_SET, g_steal_pointer (&msg));
  g_mutex_unlock (&self->lock);
  if (old)
    g_bytes_unref (old);
  if (msg)
    g_bytes_unref (msg);
  return;

invalid:
  GST_WARNING_OBJECT (self, "ignoring malformed cursor %" GST_PTR_FORMAT,
      event);
}

static void
handle_cursor_move (GstSpiceSink * self, GstEvent * event)
{
  gint x, y;

  if (!osvdi_cursor_event_parse_move (event, &x, &y)) {
    GST_WARNING_OBJECT (self, "ignoring malformed cursor %" GST_PTR_FORMAT,
        event);
    return;
  }
  g_mutex_lock (&self->lock);
  if (self->streaming)
    queue_cursor_locked (self, OSVDI_SINK_MSG_CURSOR_MOVE,
        osvdi_stream_msg_cursor_move (x, y));
  g_mutex_unlock (&self->lock);
}

static gboolean
gst_spice_sink_event (GstBaseSink * bsink, GstEvent * event)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM_OOB ||
      GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM) {
    if (gst_event_has_name (event, OSVDI_CURSOR_SET_NAME)) {
      handle_cursor_set (self, event);
      gst_event_unref (event);
      return TRUE;
    }
    if (gst_event_has_name (event, OSVDI_CURSOR_MOVE_NAME)) {
      handle_cursor_move (self, event);
      gst_event_unref (event);
      return TRUE;
    }
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (bsink, event);
}

static GstStateChangeReturn
gst_spice_sink_change_state (GstElement * element, GstStateChange transition)
{
  GstSpiceSink *self = GST_SPICE_SINK (element);
  GQueue trash = G_QUEUE_INIT;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    /* The server and its clients outlive READY, but upstream restarts: wait
     * for its first keyframe before sending anything. */
    g_mutex_lock (&self->lock);
    osvdi_sink_queue_restart (&self->queue, &trash);
    self->keyframe_requested = FALSE;
    g_mutex_unlock (&self->lock);
    osvdi_sink_queue_free_trash (&trash);
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static GstStructure *
gst_spice_sink_get_stats (GstSpiceSink * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spicesink-stats",
      "frames-sent", G_TYPE_UINT64, self->queue.frames_sent,
      "bytes-sent", G_TYPE_UINT64, self->queue.bytes_sent,
      "frames-dropped", G_TYPE_UINT64, self->queue.frames_dropped,
      "keyframes-requested", G_TYPE_UINT64, self->keyframes_requested,
      "clients", G_TYPE_UINT, self->clients,
      "streaming", G_TYPE_BOOLEAN, self->streaming,
      "codec", G_TYPE_STRING, self->codec >= 0 ?
      osvdi_stream_codec_name (self->codec) : "none",
      "waiting-frames", G_TYPE_UINT, self->queue.waiting_frames,
      "max-waiting-frames", G_TYPE_UINT, self->queue.max_waiting_frames,
      "mouse-mode", G_TYPE_STRING, self->client_mouse ? "client" : "server",
      NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceSink *self = GST_SPICE_SINK (object);
  gboolean update_ticket = FALSE;

  GST_OBJECT_LOCK (self);
  if (self->server_running && (pspec->flags & OSVDI_PARAM_SERVER_SETTING))
    goto server_running;
  switch (prop_id) {
    case PROP_ADDRESS:
      g_free (self->address);
      self->address = g_value_dup_string (value);
      if (!self->address)
        self->address = g_strdup (DEFAULT_ADDRESS);
      break;
    case PROP_PORT:
      self->port = g_value_get_int (value);
      break;
    case PROP_TLS_PORT:
      self->tls_port = g_value_get_int (value);
      break;
    case PROP_X509_DIR:
      g_free (self->x509_dir);
      self->x509_dir = g_value_dup_string (value);
      break;
    case PROP_PASSWORD:
      if (self->password)
        memset (self->password, 0, strlen (self->password));
      g_free (self->password);
      self->password = g_value_dup_string (value);
      update_ticket = TRUE;
      break;
    case PROP_PASSWORD_FILE:
      g_free (self->password_file);
      self->password_file = g_value_dup_string (value);
      break;
    case PROP_PASSWORD_LIFETIME:
      self->password_lifetime = g_value_get_uint (value);
      update_ticket = TRUE;
      break;
    case PROP_DISABLE_TICKETING:
      self->disable_ticketing = g_value_get_boolean (value);
      break;
    case PROP_ABSOLUTE_POINTER:
      self->absolute_pointer = g_value_get_boolean (value);
      break;
    case PROP_H264_FRAME_END:
      self->h264_frame_end_setting = g_value_get_boolean (value);
      break;
    case PROP_AUDIO_CLOCK:
      self->audio_clock = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);

  /* A new ticket applies at once to a running server (ticket rotation). */
  if (update_ticket) {
    gchar *password;
    guint lifetime;

    GST_OBJECT_LOCK (self);
    password = g_strdup (self->password);
    lifetime = self->password_lifetime;
    GST_OBJECT_UNLOCK (self);
    g_mutex_lock (&self->lock);
    if (self->server)
      osvdi_spice_server_set_ticket (self->server, password, lifetime);
    g_mutex_unlock (&self->lock);
    if (password)
      memset (password, 0, strlen (password));
    g_free (password);
  }
  return;

  /* ERRORS */
server_running:
  {
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("The SPICE server is running: \"%s\" can only change in the NULL "
            "state; the change is ignored.", pspec->name),
        ("set the element to NULL, change the property, start it again"));
  }
}

static void
gst_spice_sink_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstSpiceSink *self = GST_SPICE_SINK (object);

  switch (prop_id) {
    case PROP_STATS:
      g_value_take_boxed (value, gst_spice_sink_get_stats (self));
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;
    case PROP_PORT:
      g_value_set_int (value, self->port);
      break;
    case PROP_TLS_PORT:
      g_value_set_int (value, self->tls_port);
      break;
    case PROP_X509_DIR:
      g_value_set_string (value, self->x509_dir);
      break;
    case PROP_PASSWORD_FILE:
      g_value_set_string (value, self->password_file);
      break;
    case PROP_PASSWORD_LIFETIME:
      g_value_set_uint (value, self->password_lifetime);
      break;
    case PROP_DISABLE_TICKETING:
      g_value_set_boolean (value, self->disable_ticketing);
      break;
    case PROP_ABSOLUTE_POINTER:
      g_value_set_boolean (value, self->absolute_pointer);
      break;
    case PROP_H264_FRAME_END:
      g_value_set_boolean (value, self->h264_frame_end_setting);
      break;
    case PROP_AUDIO_CLOCK:
      g_value_set_boolean (value, self->audio_clock);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_sink_finalize (GObject * object)
{
  GstSpiceSink *self = GST_SPICE_SINK (object);

  g_free (self->address);
  g_free (self->x509_dir);
  g_free (self->password_file);
  if (self->password)
    memset (self->password, 0, strlen (self->password));
  g_free (self->password);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_spice_sink_init (GstSpiceSink * self)
{
  self->address = g_strdup (DEFAULT_ADDRESS);
  self->port = DEFAULT_PORT;
  self->tls_port = DEFAULT_TLS_PORT;
  self->password_lifetime = DEFAULT_PASSWORD_LIFETIME;
  self->disable_ticketing = DEFAULT_DISABLE_TICKETING;
  self->absolute_pointer = DEFAULT_ABSOLUTE_POINTER;
  self->h264_frame_end_setting = DEFAULT_H264_FRAME_END;
  self->audio_clock = DEFAULT_AUDIO_CLOCK;
  self->codec = -1;
  g_mutex_init (&self->lock);
  osvdi_sink_queue_init (&self->queue, MAX_WAITING_FRAMES);
  osvdi_spice_input_init (&self->input, GST_OBJECT (self), input_push,
      input_size, self);
  /* The CAPS query answers the client's codecs; caps are accepted against
   * the template, so that an encoder already running goes on until
   * upstream switches it. */
  GST_PAD_SET_ACCEPT_TEMPLATE (GST_BASE_SINK_PAD (self));

  /* Frames leave as soon as they are encoded: spice-server timestamps them
   * when it reads them, and waiting for the clock only adds latency. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
  gst_base_sink_set_last_sample_enabled (GST_BASE_SINK (self), FALSE);
}

static void
gst_spice_sink_class_init (GstSpiceSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->set_property = gst_spice_sink_set_property;
  gobject_class->get_property = gst_spice_sink_get_property;
  gobject_class->finalize = gst_spice_sink_finalize;

  /**
   * GstSpiceSink:address:
   *
   * Address the SPICE server listens on. Loopback by default: expose a
   * desktop on the network only on purpose, with a ticket and TLS.
   */
  properties[PROP_ADDRESS] = g_param_spec_string ("address", "Address",
      "Address to listen on (loopback by default)", DEFAULT_ADDRESS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:port:
   *
   * Plain-text SPICE port; 0 to listen on #GstSpiceSink:tls-port only.
   */
  properties[PROP_PORT] = g_param_spec_int ("port", "Port",
      "SPICE port (0: none, TLS only)", 0, 65535, DEFAULT_PORT,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:tls-port:
   *
   * SPICE TLS port; 0 disables TLS. Needs #GstSpiceSink:x509-dir.
   */
  properties[PROP_TLS_PORT] = g_param_spec_int ("tls-port", "TLS port",
      "SPICE TLS port (0: no TLS); needs x509-dir", 0, 65535,
      DEFAULT_TLS_PORT,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:x509-dir:
   *
   * Directory holding ca-cert.pem, server-cert.pem and server-key.pem for
   * the TLS port.
   */
  properties[PROP_X509_DIR] = g_param_spec_string ("x509-dir",
      "X.509 directory",
      "Directory with ca-cert.pem, server-cert.pem and server-key.pem", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:password:
   *
   * The SPICE ticket clients must present. Write-only. Setting it while
   * playing replaces the ticket for clients that connect afterwards.
   */
  properties[PROP_PASSWORD] = g_param_spec_string ("password", "Password",
      "SPICE ticket clients must present (write-only; may change while "
      "playing)", NULL,
      G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);

  /**
   * GstSpiceSink:password-file:
   *
   * A file whose first line is the SPICE ticket, read when the element
   * starts; it takes precedence over #GstSpiceSink:password. Keeps the ticket
   * off command lines (`ps` shows gst-launch-1.0 arguments to every user).
   */
  properties[PROP_PASSWORD_FILE] = g_param_spec_string ("password-file",
      "Password file",
      "File whose first line is the SPICE ticket (read at start; overrides "
      "password)", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:password-lifetime:
   *
   * Seconds the ticket stays valid after it is set; 0 never expires.
   */
  properties[PROP_PASSWORD_LIFETIME] = g_param_spec_uint ("password-lifetime",
      "Password lifetime",
      "Seconds the ticket stays valid after it is set (0: no expiry)", 0,
      G_MAXINT, DEFAULT_PASSWORD_LIFETIME,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);

  /**
   * GstSpiceSink:disable-ticketing:
   *
   * Let clients in without a ticket. Off by default: without a
   * #GstSpiceSink:password and with this off, the element refuses to start.
   */
  properties[PROP_DISABLE_TICKETING] = g_param_spec_boolean
      ("disable-ticketing", "Disable ticketing",
      "Allow clients without a ticket (insecure; off by default)",
      DEFAULT_DISABLE_TICKETING,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:absolute-pointer:
   *
   * Offer SPICE's client mouse mode: the pointer moves freely in and out of
   * the client's window and arrives as absolute positions in the stream's
   * pixels. Off: server mode, where clients grab the pointer and send
   * relative motion. #GstSpiceSink:stats says which mode is set up.
   */
  properties[PROP_ABSOLUTE_POINTER] = g_param_spec_boolean
      ("absolute-pointer", "Absolute pointer",
      "Offer client (absolute) mouse mode; off: relative motion with a "
      "pointer grab", DEFAULT_ABSOLUTE_POINTER,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:h264-frame-end:
   *
   * End every H.264 frame with an access unit delimiter and a small SEI
   * (both part of the next access unit; the stream stays conformant), so
   * that spice-gtk 0.42's parser hands each frame to its decoder at once
   * instead of one frame interval later.
   */
  properties[PROP_H264_FRAME_END] = g_param_spec_boolean ("h264-frame-end",
      "H.264 frame end",
      "Mark the end of each H.264 frame for the client's parser (saves the "
      "client a frame interval of latency)", DEFAULT_H264_FRAME_END,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:audio-clock:
   *
   * Offer clients a playback channel that plays silence, 10 ms at a time
   * (Opus-compressed for clients that decode it). spice-server 0.15 starts
   * each client's media clock 400 ms behind its own, and spice-gtk's default
   * video path shows stream frames by that clock; a client that plays audio
   * resyncs the clock to its real audio output latency instead, so frames
   * are shown tens of milliseconds after they are sent instead of 400.
   * Clients without audio are unaffected.
   */
  properties[PROP_AUDIO_CLOCK] = g_param_spec_boolean ("audio-clock",
      "Audio clock",
      "Play silence to clients so that those with audio time stream frames "
      "by their audio output instead of spice-server's 400 ms-late media "
      "clock", DEFAULT_AUDIO_CLOCK,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | OSVDI_PARAM_SERVER_SETTING);

  /**
   * GstSpiceSink:stats:
   *
   * Counters: frames-sent, bytes-sent (handed to spice-server),
   * frames-dropped (skipped for a slow or newly started client),
   * clients, streaming (a client watches a codec it decodes), codec (the
   * negotiated one; when the client does not decode it, the sink's CAPS
   * query has already asked upstream for another), waiting-frames,
   * max-waiting-frames and mouse-mode (client or server).
   */
  properties[PROP_STATS] = g_param_spec_boxed ("stats", "Statistics",
      "frames-sent, bytes-sent, frames-dropped, clients, streaming, codec, "
      "waiting-frames, max-waiting-frames, mouse-mode", GST_TYPE_STRUCTURE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (gobject_class, N_PROPERTIES, properties);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "SPICE sink",
      "Sink/Network/Video",
      "Serves an encoded video stream to SPICE clients through spice-server's "
      "stream device, and sends their input upstream; its caps narrow to the "
      "codecs the connected client decodes (with RECONFIGURE upstream when "
      "they change), so that spiceencbin can follow the client",
      "OSVDI developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_spice_sink_change_state);

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_spice_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_spice_sink_stop);
  basesink_class->get_caps = GST_DEBUG_FUNCPTR (gst_spice_sink_get_caps);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_spice_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_spice_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_spice_sink_event);

  GST_DEBUG_CATEGORY_INIT (gst_spice_sink_debug, "spicesink", 0,
      "SPICE sink");
}
