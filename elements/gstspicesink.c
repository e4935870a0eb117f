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
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspicesink.h"
#include "spicecore.h"
#include "spicestream.h"
#include "spiceclientmouse.h"
#include "spiceaudioclock.h"
#include "osvdikeys.h"
#include "osvdicursor.h"
#include "osvdinet.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <spice.h>
#include <spice/protocol.h>
#include <gst/video/video.h>
#include <gst/video/navigation.h>

GST_DEBUG_CATEGORY_STATIC (gst_spice_sink_debug);
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

#define STREAM_PORT_NAME "org.spice-space.stream.0"

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

typedef enum
{
  MSG_CONTROL,
  MSG_FRAME,
  MSG_CURSOR_SET,
  MSG_CURSOR_MOVE,
} OutMsgKind;

/* One message for spice-server to read: either whole bytes (control,
 * cursor) or a header followed by an encoded frame. */
typedef struct
{
  OutMsgKind kind;
  GBytes *bytes;
  guint8 header[OSVDI_STREAM_HEADER_SIZE];
  GstBuffer *frame;
  gsize frame_size;
  const guint8 *tail;           /* static bytes sent after the frame */
  gsize tail_size;
  gsize size;
} OutMsg;

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

/* spice-server hands its instances back to us; these wrappers lead from an
 * instance to the sink. */
typedef struct
{
  SpiceCharDeviceInstance sin;
  GstSpiceSink *self;
} StreamPort;

typedef struct
{
  SpiceKbdInstance sin;
  GstSpiceSink *self;
} Keyboard;

typedef struct
{
  SpiceMouseInstance sin;
  GstSpiceSink *self;
} Mouse;

typedef struct
{
  SpiceTabletInstance sin;
  GstSpiceSink *self;
} Tablet;

/* What the server thread needs of the settings, copied in start(). */
typedef struct
{
  gchar *address;
  gint port;
  gint tls_port;
  gchar *x509_dir;
  gchar *password;
  guint password_lifetime;
  gboolean disable_ticketing;
  gboolean absolute_pointer;
  gboolean audio_clock;
} ServerConfig;

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
   * start() copies into `config` are refused then (they change nothing
   * until the next NULL -> READY, and READY keeps the server running). */
  gboolean server_running;

  /* The server thread's handles: written in start()/stop() only, on the
   * state-change thread, while no streaming thread runs. `context` is also
   * read under `lock` by threads that schedule work on the server thread. */
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  ServerConfig config;
  GThreadPool *upstream;        /* pushes events upstream, in order */

  /* Start-up handshake with the server thread: init_lock. */
  GMutex init_lock;
  GCond init_cond;
  gboolean init_done;
  GstResourceError init_error;
  gchar *init_error_text;
  gchar *init_error_detail;

  /* Owned by the server thread; nobody else touches them. */
  SpiceServer *server;
  StreamPort stream_port;
  Keyboard keyboard;
  Mouse mouse;
  Tablet tablet;
  OsvdiAudioClock *audio_clock_source;
  OsvdiStreamParser parser;
  OsvdiScancodeDecoder scancodes;
  GstNavigationModifierType modifiers;
  guint32 mouse_buttons;
  gdouble pointer_x, pointer_y;
  GHashTable *client_connections;

  /* Stream state: `lock`. Shared by the streaming thread (render, caps,
   * events) and the server thread (read/write callbacks). Nothing is pushed,
   * posted or called into spice-server with it held. */
  GMutex lock;
  GQueue queue;                 /* OutMsg, not yet started */
  OutMsg *current;              /* being read by spice-server */
  gsize current_offset;
  guint waiting_frames;         /* frames in queue + current */
  guint max_waiting_frames;
  gboolean client_started;      /* a client asked for the stream */
  gboolean streaming;           /* ...and can decode our codec */
  gboolean need_keyframe;
  gboolean keyframe_requested;
  gboolean wakeup_pending;
  guint8 client_codecs[16];
  guint n_client_codecs;
  gint codec;                   /* SpiceVideoCodecType or -1 */
  guint width, height;
  GBytes *cursor_shape;         /* last cursor, for new clients */
  guint64 frames_sent, bytes_sent, frames_dropped, keyframes_requested;
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

/* ------------------------------------------------------------------------ */
/* Outgoing messages                                                        */

static void
out_msg_free (OutMsg * msg)
{
  if (msg->bytes)
    g_bytes_unref (msg->bytes);
  if (msg->frame)
    gst_buffer_unref (msg->frame);
  g_free (msg);
}

static OutMsg *
out_msg_new_bytes (OutMsgKind kind, GBytes * bytes)
{
  OutMsg *msg = g_new0 (OutMsg, 1);

  msg->kind = kind;
  msg->bytes = bytes;
  msg->size = g_bytes_get_size (bytes);
  return msg;
}

static OutMsg *
out_msg_new_frame (GstBuffer * buffer, const guint8 * tail, gsize tail_size)
{
  OutMsg *msg = g_new0 (OutMsg, 1);

  msg->kind = MSG_FRAME;
  msg->frame = gst_buffer_ref (buffer);
  msg->frame_size = gst_buffer_get_size (buffer);
  msg->tail = tail;
  msg->tail_size = tail_size;
  osvdi_stream_write_header (msg->header, STREAM_TYPE_DATA,
      msg->frame_size + tail_size);
  msg->size = OSVDI_STREAM_HEADER_SIZE + msg->frame_size + tail_size;
  return msg;
}

/* Copies bytes of @msg from @offset into @dest: header, frame, tail. This
 * is the one copy of a frame the sink makes, into spice-server's buffer. */
static gsize
out_msg_copy (OutMsg * msg, gsize offset, guint8 * dest, gsize len)
{
  gsize done = 0;

  len = MIN (len, msg->size - offset);
  if (msg->bytes) {
    memcpy (dest, (const guint8 *) g_bytes_get_data (msg->bytes, NULL)
        + offset, len);
    return len;
  }
  while (done < len) {
    gsize pos = offset + done, n;

    if (pos < OSVDI_STREAM_HEADER_SIZE) {
      n = MIN (len - done, OSVDI_STREAM_HEADER_SIZE - pos);
      memcpy (dest + done, msg->header + pos, n);
    } else if (pos < OSVDI_STREAM_HEADER_SIZE + msg->frame_size) {
      pos -= OSVDI_STREAM_HEADER_SIZE;
      n = gst_buffer_extract (msg->frame, pos, dest + done,
          MIN (len - done, msg->frame_size - pos));
      if (n == 0)
        break;
    } else {
      pos -= OSVDI_STREAM_HEADER_SIZE + msg->frame_size;
      n = MIN (len - done, msg->tail_size - pos);
      memcpy (dest + done, msg->tail + pos, n);
    }
    done += n;
  }
  return done;
}

static void schedule_wakeup_locked (GstSpiceSink * self);

/* Moves the frames that spice-server has not started reading to @trash;
 * returns how many. The caller frees @trash (out_msg_free) after unlocking:
 * releasing a frame's buffer runs upstream's pool code, which must not run
 * under our lock. */
static guint
drop_queued_frames_locked (GstSpiceSink * self, GQueue * trash)
{
  GList *l = self->queue.head;
  guint dropped = 0;

  while (l) {
    GList *next = l->next;
    OutMsg *msg = l->data;

    if (msg->kind == MSG_FRAME) {
      g_queue_delete_link (&self->queue, l);
      g_queue_push_tail (trash, msg);
      dropped++;
    }
    l = next;
  }
  self->waiting_frames -= dropped;
  return dropped;
}

/* A newer cursor message of the same kind replaces one still waiting. */
static void
queue_cursor_locked (GstSpiceSink * self, OutMsgKind kind, GBytes * bytes)
{
  GList *l;

  for (l = self->queue.head; l; l = l->next) {
    OutMsg *msg = l->data;

    if (msg->kind == kind) {
      g_bytes_unref (msg->bytes);
      msg->bytes = bytes;
      msg->size = g_bytes_get_size (bytes);
      return;
    }
  }
  g_queue_push_tail (&self->queue, out_msg_new_bytes (kind, bytes));
  schedule_wakeup_locked (self);
}

static void
queue_format_locked (GstSpiceSink * self)
{
  if (self->codec < 0 || self->width == 0 || self->height == 0)
    return;
  g_queue_push_tail (&self->queue, out_msg_new_bytes (MSG_CONTROL,
          osvdi_stream_msg_format (self->width, self->height, self->codec)));
  schedule_wakeup_locked (self);
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

/* ------------------------------------------------------------------------ */
/* Work handed to other threads                                             */

static void
push_upstream_func (gpointer data, gpointer user_data)
{
  GstSpiceSink *self = user_data;
  GstEvent *event = data;

  GST_LOG_OBJECT (self, "pushing %" GST_PTR_FORMAT, event);
  gst_pad_push_event (GST_BASE_SINK_PAD (self), event);
}

/* Upstream events leave from a thread of their own: pushing one runs
 * upstream elements' handlers (an encoder takes its stream lock), which must
 * neither stall spice-server's thread nor run under our locks. */
static void
push_upstream (GstSpiceSink * self, GstEvent * event)
{
  if (self->upstream)
    g_thread_pool_push (self->upstream, event, NULL);
  else
    gst_event_unref (event);
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

static gboolean
wakeup_dispatch (gpointer data)
{
  GstSpiceSink *self = data;

  g_mutex_lock (&self->lock);
  self->wakeup_pending = FALSE;
  g_mutex_unlock (&self->lock);

  /* spice-server reads from the device on this call, taking `lock` in
   * port_read(): it must not be held here. */
  if (self->server)
    spice_server_char_device_wakeup (&self->stream_port.sin);
  return G_SOURCE_REMOVE;
}

/* Wakes spice-server's device reader, always from an idle callback on the
 * server thread: calling it from inside port_write() would re-enter
 * spice-server, and other threads must not call it at all. */
static void
schedule_wakeup_locked (GstSpiceSink * self)
{
  GSource *source;

  if (self->wakeup_pending || !self->context)
    return;
  self->wakeup_pending = TRUE;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, wakeup_dispatch, self, NULL);
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/* ------------------------------------------------------------------------ */
/* spice-server callbacks: all on the server thread                         */

/* (Re)starts the stream for the clients: FORMAT, the cursor shape, then
 * frames from the next keyframe. When the clients cannot decode our codec,
 * nothing is sent (it would only break their decoder) and @accepted receives
 * the codecs they can decode. */
static void
restart_stream_locked (GstSpiceSink * self, gchar ** accepted, GQueue * trash)
{
  self->frames_dropped += drop_queued_frames_locked (self, trash);
  self->streaming = FALSE;
  self->need_keyframe = TRUE;
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
    queue_cursor_locked (self, MSG_CURSOR_SET,
        g_bytes_ref (self->cursor_shape));
}

static void
warn_codec_not_accepted (GstSpiceSink * self, gint codec, gchar * accepted)
{
  GST_ELEMENT_WARNING (self, STREAM, CODEC_NOT_FOUND,
      ("The SPICE client cannot decode %s; it accepts %s. Nothing is sent "
          "until the stream's codec changes or another client connects.",
          osvdi_stream_codec_name (codec), accepted),
      ("codec negotiated upstream is not in the client's START_STOP list"));
  g_free (accepted);
}

static void
handle_start_stop (GstSpiceSink * self, const guint8 * payload, guint32 size)
{
  guint8 codecs[G_N_ELEMENTS (self->client_codecs)];
  gint n = osvdi_stream_parse_start_stop (payload, size, codecs,
      G_N_ELEMENTS (codecs));
  gboolean request;
  gchar *accepted = NULL;
  GQueue trash = G_QUEUE_INIT;
  gint codec;

  if (n < 0) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("spice-server sent a malformed start/stop message"),
        ("START_STOP payload of %u bytes", size));
    return;
  }

  g_mutex_lock (&self->lock);
  memcpy (self->client_codecs, codecs, n);
  self->n_client_codecs = n;
  /* Every start restarts the stream for every client. */
  self->client_started = n > 0;
  restart_stream_locked (self, &accepted, &trash);
  request = self->streaming;
  self->keyframe_requested = request;
  codec = self->codec;
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);

  GST_INFO_OBJECT (self, "client %s the stream (%d codecs)",
      n > 0 ? "starts" : "stops", n);
  if (accepted)
    warn_codec_not_accepted (self, codec, accepted);
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
      /* The server announces itself; we answer with ours (none). */
      g_mutex_lock (&self->lock);
      g_queue_push_head (&self->queue, out_msg_new_bytes (MSG_CONTROL,
              osvdi_stream_msg_capabilities ()));
      schedule_wakeup_locked (self);
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

static int
port_write (SpiceCharDeviceInstance * sin, const uint8_t * buf, int len)
{
  GstSpiceSink *self = ((StreamPort *) sin)->self;
  GError *error = NULL;

  if (len <= 0)
    return 0;
  if (!osvdi_stream_parser_feed (&self->parser, buf, len, handle_device_msg,
          self, &error)) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Garbage from spice-server's stream device, discarded"),
        ("%s", error->message));
    g_clear_error (&error);
  }
  return len;
}

static int
port_read (SpiceCharDeviceInstance * sin, uint8_t * buf, int len)
{
  GstSpiceSink *self = ((StreamPort *) sin)->self;
  GQueue trash = G_QUEUE_INIT;
  gsize done = 0;

  g_mutex_lock (&self->lock);
  while (done < (gsize) len) {
    OutMsg *msg = self->current;
    gsize n;

    if (!msg) {
      msg = self->current = g_queue_pop_head (&self->queue);
      self->current_offset = 0;
      if (!msg)
        break;
    }
    n = out_msg_copy (msg, self->current_offset, buf + done, len - done);
    done += n;
    self->current_offset += n;
    if (self->current_offset < msg->size)
      continue;

    if (msg->kind == MSG_FRAME) {
      self->frames_sent++;
      self->bytes_sent += msg->frame_size;
      self->waiting_frames--;
    }
    g_queue_push_tail (&trash, msg);
    self->current = NULL;
  }
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);
  return done;
}

static void
port_state (SpiceCharDeviceInstance * sin, int connected)
{
  GST_DEBUG_OBJECT (((StreamPort *) sin)->self, "port state %d", connected);
}

static void
port_event (SpiceCharDeviceInstance * sin, uint8_t event)
{
  GST_DEBUG_OBJECT (((StreamPort *) sin)->self, "port event %u", event);
}

static SpiceCharDeviceInterface port_interface = {
  .base = {
        .type = SPICE_INTERFACE_CHAR_DEVICE,
        .description = "OSVDI stream device",
        .major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
        .minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
      },
  .state = port_state,
  .write = port_write,
  .read = port_read,
  .event = port_event,
};

static GstNavigationModifierType
modifier_for_key (const gchar * key)
{
  if (!key)
    return 0;
  if (g_str_has_prefix (key, "Shift_"))
    return GST_NAVIGATION_MODIFIER_SHIFT_MASK;
  if (g_str_has_prefix (key, "Control_"))
    return GST_NAVIGATION_MODIFIER_CONTROL_MASK;
  if (g_str_has_prefix (key, "Alt_"))
    return GST_NAVIGATION_MODIFIER_MOD1_MASK;
  if (g_str_has_prefix (key, "Super_"))
    return GST_NAVIGATION_MODIFIER_SUPER_MASK;
  return 0;
}

static void
kbd_push_scan_freg (SpiceKbdInstance * sin, uint8_t frag)
{
  GstSpiceSink *self = ((Keyboard *) sin)->self;
  const gchar *key;
  guint scancode;
  gboolean pressed;
  GstEvent *event;
  gchar *unknown = NULL;

  if (!osvdi_scancode_decoder_push (&self->scancodes, frag, &scancode,
          &pressed))
    return;

  key = osvdi_scancode_to_key_name (scancode);
  if (!key)
    key = unknown = g_strdup_printf ("scancode-0x%03x", scancode);

  if (pressed)
    self->modifiers |= modifier_for_key (key);
  else
    self->modifiers &= ~modifier_for_key (key);

  event = pressed ? gst_navigation_event_new_key_press (key, self->modifiers)
      : gst_navigation_event_new_key_release (key, self->modifiers);
  /* Keep the raw PC scancode: a VM wants it, not a keysym name. */
  gst_structure_set (gst_event_writable_structure (event),
      "scancode", G_TYPE_UINT, scancode, NULL);
  GST_LOG_OBJECT (self, "key %s 0x%03x %s", key, scancode,
      pressed ? "down" : "up");
  g_free (unknown);
  push_upstream (self, event);
}

static uint8_t
kbd_get_leds (SpiceKbdInstance * sin)
{
  (void) sin;
  return 0;
}

static SpiceKbdInterface keyboard_interface = {
  .base = {
        .type = SPICE_INTERFACE_KEYBOARD,
        .description = "OSVDI keyboard",
        .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
        .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
      },
  .push_scan_freg = kbd_push_scan_freg,
  .get_leds = kbd_get_leds,
};

/* spice-server's local button mask (QEMU's): 1 left, 2 right, 4 middle.
 * GstNavigation numbers buttons the X way: 1 left, 2 middle, 3 right. */
static const struct
{
  guint32 mask;
  gint button;
} mouse_buttons[] = {
  {1, 1}, {4, 2}, {2, 3},
};

static void
mouse_update_buttons (GstSpiceSink * self, guint32 state)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (mouse_buttons); i++) {
    guint32 mask = mouse_buttons[i].mask;
    GstEvent *event;

    if ((state & mask) == (self->mouse_buttons & mask))
      continue;
    if (state & mask)
      event = gst_navigation_event_new_mouse_button_press
          (mouse_buttons[i].button, self->pointer_x, self->pointer_y,
          self->modifiers);
    else
      event = gst_navigation_event_new_mouse_button_release
          (mouse_buttons[i].button, self->pointer_x, self->pointer_y,
          self->modifiers);
    push_upstream (self, event);
  }
  self->mouse_buttons = state;
}

static void
mouse_motion (SpiceMouseInstance * sin, int dx, int dy, int dz,
    uint32_t buttons_state)
{
  GstSpiceSink *self = ((Mouse *) sin)->self;
  guint width, height;

  g_mutex_lock (&self->lock);
  width = self->width;
  height = self->height;
  g_mutex_unlock (&self->lock);

  if (dx || dy) {
    GstEvent *event;

    /* Server mouse mode gives relative motion; GstNavigation has only
     * absolute positions, so a virtual pointer inside the stream carries the
     * position and the raw deltas ride along. */
    self->pointer_x = CLAMP (self->pointer_x + dx, 0,
        width ? width - 1 : G_MAXINT);
    self->pointer_y = CLAMP (self->pointer_y + dy, 0,
        height ? height - 1 : G_MAXINT);
    event = gst_navigation_event_new_mouse_move (self->pointer_x,
        self->pointer_y, self->modifiers);
    gst_structure_set (gst_event_writable_structure (event),
        "dx", G_TYPE_INT, dx, "dy", G_TYPE_INT, dy,
        "relative", G_TYPE_BOOLEAN, TRUE, NULL);
    push_upstream (self, event);
  }
  if (dz)
    /* SPICE and X: positive dz scrolls down; GstNavigation: delta_y > 0 is
     * up (as gtkwaylandsink and the d3d11 sinks report it). */
    push_upstream (self, gst_navigation_event_new_mouse_scroll
        (self->pointer_x, self->pointer_y, 0, -dz, self->modifiers));
  mouse_update_buttons (self, buttons_state);
}

static void
mouse_buttons_changed (SpiceMouseInstance * sin, uint32_t buttons_state)
{
  mouse_update_buttons (((Mouse *) sin)->self, buttons_state);
}

static SpiceMouseInterface mouse_interface = {
  .base = {
        .type = SPICE_INTERFACE_MOUSE,
        .description = "OSVDI mouse",
        .major_version = SPICE_INTERFACE_MOUSE_MAJOR,
        .minor_version = SPICE_INTERFACE_MOUSE_MINOR,
      },
  .motion = mouse_motion,
  .buttons = mouse_buttons_changed,
};

/* Client mouse mode: absolute positions in the stream's pixels (spice-gtk
 * maps a scaled window back), buttons in the same local mask as the mouse.
 * spice-server 0.15 reports a press as wheel (0, mask), a release as
 * buttons (mask) and scrolling as wheel (+-1, mask). */
static void
tablet_set_logical_size (SpiceTabletInstance * sin, int width, int height)
{
  /* The size of the transient QXL surface, not of the stream: ignored. */
}

static void
tablet_position (SpiceTabletInstance * sin, int x, int y,
    uint32_t buttons_state)
{
  GstSpiceSink *self = ((Tablet *) sin)->self;
  guint width, height;

  g_mutex_lock (&self->lock);
  width = self->width;
  height = self->height;
  g_mutex_unlock (&self->lock);

  self->pointer_x = CLAMP (x, 0, width ? (gint) width - 1 : G_MAXINT);
  self->pointer_y = CLAMP (y, 0, height ? (gint) height - 1 : G_MAXINT);
  push_upstream (self, gst_navigation_event_new_mouse_move (self->pointer_x,
          self->pointer_y, self->modifiers));
  mouse_update_buttons (self, buttons_state);
}

static void
tablet_wheel (SpiceTabletInstance * sin, int motion, uint32_t buttons_state)
{
  GstSpiceSink *self = ((Tablet *) sin)->self;

  if (motion)
    push_upstream (self, gst_navigation_event_new_mouse_scroll
        (self->pointer_x, self->pointer_y, 0, -motion, self->modifiers));
  mouse_update_buttons (self, buttons_state);
}

static void
tablet_buttons (SpiceTabletInstance * sin, uint32_t buttons_state)
{
  mouse_update_buttons (((Tablet *) sin)->self, buttons_state);
}

static SpiceTabletInterface tablet_interface = {
  .base = {
        .type = SPICE_INTERFACE_TABLET,
        .description = "OSVDI tablet",
        .major_version = SPICE_INTERFACE_TABLET_MAJOR,
        .minor_version = SPICE_INTERFACE_TABLET_MINOR,
      },
  .set_logical_size = tablet_set_logical_size,
  .position = tablet_position,
  .wheel = tablet_wheel,
  .buttons = tablet_buttons,
};

static gchar *
format_peer (const SpiceChannelEventInfo * info)
{
  char host[NI_MAXHOST], serv[NI_MAXSERV];

  if (!(info->flags & SPICE_CHANNEL_EVENT_FLAG_ADDR_EXT)
      || getnameinfo ((const struct sockaddr *) &info->paddr_ext,
          info->plen_ext, host, sizeof (host), serv, sizeof (serv),
          NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return g_strdup ("unknown");
  return g_strdup_printf ("%s:%s", host, serv);
}

static void
on_channel_event (gpointer user_data, int event,
    const SpiceChannelEventInfo * info)
{
  GstSpiceSink *self = user_data;
  gpointer key = GINT_TO_POINTER (info->connection_id);
  const gchar *what = NULL;
  guint clients;
  gchar *peer;

  /* A client is its main channel; the others come and go with it. */
  if (info->type != SPICE_CHANNEL_MAIN)
    return;

  if (event == SPICE_CHANNEL_EVENT_INITIALIZED
      && g_hash_table_add (self->client_connections, key))
    what = "connected";
  else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED
      && g_hash_table_remove (self->client_connections, key))
    what = "disconnected";
  if (!what)
    return;

  clients = g_hash_table_size (self->client_connections);
  g_mutex_lock (&self->lock);
  self->clients = clients;
  g_mutex_unlock (&self->lock);

  peer = format_peer (info);
  GST_INFO_OBJECT (self, "client %s %s (%u connected)", peer, what, clients);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("spicesink/client", "event", G_TYPE_STRING, what,
              "peer", G_TYPE_STRING, peer, "tls", G_TYPE_BOOLEAN,
              (info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS) != 0,
              "clients", G_TYPE_UINT, clients, NULL)));
  g_free (peer);
}

/* ------------------------------------------------------------------------ */
/* The server thread                                                        */

static void
set_init_error (GstSpiceSink * self, GstResourceError code, gchar * text,
    gchar * detail)
{
  self->init_error = code;
  self->init_error_text = text;
  self->init_error_detail = detail;
}

static gboolean
server_setup (GstSpiceSink * self)
{
  const ServerConfig *cfg = &self->config;
  gchar *ca = NULL, *cert = NULL, *key = NULL;

  self->server = spice_server_new ();
  spice_server_set_name (self->server, "OSVDI");
  if (cfg->port > 0)
    spice_server_set_port (self->server, cfg->port);
  spice_server_set_addr (self->server, cfg->address, 0);
  if (cfg->tls_port > 0) {
    ca = g_build_filename (cfg->x509_dir, "ca-cert.pem", NULL);
    cert = g_build_filename (cfg->x509_dir, "server-cert.pem", NULL);
    key = g_build_filename (cfg->x509_dir, "server-key.pem", NULL);
    if (spice_server_set_tls (self->server, cfg->tls_port, ca, cert, key,
            NULL, NULL, NULL) != 0)
      goto tls_failed;
  }
  if (cfg->disable_ticketing)
    spice_server_set_noauth (self->server);
  else
    spice_server_set_ticket (self->server, cfg->password,
        cfg->password_lifetime, 0, 0);

  if (spice_server_init (self->server, osvdi_spice_core_get ()) != 0)
    goto init_failed;

  self->keyboard.self = self->mouse.self = self->tablet.self = self;
  self->stream_port.self = self;
  self->keyboard.sin.base.sif = &keyboard_interface.base;
  self->mouse.sin.base.sif = &mouse_interface.base;
  self->tablet.sin.base.sif = &tablet_interface.base;
  self->stream_port.sin.base.sif = &port_interface.base;
  self->stream_port.sin.subtype = "port";
  self->stream_port.sin.portname = STREAM_PORT_NAME;
  if (spice_server_add_interface (self->server, &self->keyboard.sin.base)
      || spice_server_add_interface (self->server, &self->mouse.sin.base)
      || (cfg->absolute_pointer
          && spice_server_add_interface (self->server,
              &self->tablet.sin.base))
      || spice_server_add_interface (self->server,
          &self->stream_port.sin.base))
    goto interface_failed;
  if (cfg->audio_clock) {
    self->audio_clock_source = osvdi_audio_clock_new (self->server);
    if (!self->audio_clock_source)
      goto interface_failed;
  }
  spice_server_vm_start (self->server);
  if (cfg->absolute_pointer) {
    /* Before OPENED: the stream must not be a display yet, or the mouse
     * mode check sees two. */
    osvdi_spice_enable_client_mouse (self->server);
    g_mutex_lock (&self->lock);
    self->client_mouse = TRUE;
    g_mutex_unlock (&self->lock);
  }
  /* Without OPENED the stream channel exists but no message flows. */
  spice_server_port_event (&self->stream_port.sin, SPICE_PORT_EVENT_OPENED);

  g_free (ca);
  g_free (cert);
  g_free (key);
  return TRUE;

  /* ERRORS */
tls_failed:
  {
    set_init_error (self, GST_RESOURCE_ERROR_SETTINGS,
        g_strdup_printf ("Could not set up TLS from \"%s\".", cfg->x509_dir),
        g_strdup_printf ("spice_server_set_tls (%s, %s, %s) failed", ca, cert,
            key));
    goto failed;
  }
init_failed:
  {
    /* spice-server only says that it could not listen; tell a busy port
     * from the rest by trying the bind ourselves. */
    if (osvdi_tcp_port_in_use (cfg->address, cfg->port)
        || osvdi_tcp_port_in_use (cfg->address, cfg->tls_port))
      set_init_error (self, GST_RESOURCE_ERROR_BUSY,
          g_strdup_printf ("SPICE port %d or TLS port %d on %s is already "
              "in use.", cfg->port, cfg->tls_port, cfg->address),
          g_strdup ("bind: address already in use"));
    else
      set_init_error (self, GST_RESOURCE_ERROR_OPEN_READ_WRITE,
          g_strdup_printf ("Could not start the SPICE server on %s port %d "
              "(TLS port %d).", cfg->address, cfg->port, cfg->tls_port),
          g_strdup ("spice_server_init failed: check the address and, "
              "with TLS, the certificate files (spice-server logs why)"));
    goto failed;
  }
interface_failed:
  {
    set_init_error (self, GST_RESOURCE_ERROR_FAILED,
        g_strdup ("Could not register the SPICE stream device."),
        g_strdup ("spice_server_add_interface failed"));
    goto failed;
  }
failed:
  g_free (ca);
  g_free (cert);
  g_free (key);
  return FALSE;
}

static void
server_teardown (GstSpiceSink * self)
{
  if (!self->server)
    return;
  g_clear_pointer (&self->audio_clock_source, osvdi_audio_clock_free);
  if (self->stream_port.sin.st) {
    spice_server_port_event (&self->stream_port.sin, SPICE_PORT_EVENT_CLOSED);
    spice_server_remove_interface (&self->stream_port.sin.base);
  }
  /* spice-server cannot remove input interfaces, and destroying the server
   * leaves their state (plain g_malloc0'd structs) behind; free it here so
   * that NULL<->PLAYING cycles do not leak. */
  spice_server_destroy (self->server);
  self->server = NULL;
#if SPICE_SERVER_VERSION < 0x001000
  g_free (self->keyboard.sin.st);
  g_free (self->mouse.sin.st);
#endif
  memset (&self->tablet.sin, 0, sizeof (self->tablet.sin));
  memset (&self->stream_port.sin, 0, sizeof (self->stream_port.sin));
  memset (&self->mouse.sin, 0, sizeof (self->mouse.sin));
  memset (&self->keyboard.sin, 0, sizeof (self->keyboard.sin));
}

static gpointer
server_thread_func (gpointer data)
{
  GstSpiceSink *self = data;
  gboolean ok;

  g_main_context_push_thread_default (self->context);
  osvdi_spice_core_bind_thread (on_channel_event, self);

  ok = server_setup (self);

  g_mutex_lock (&self->init_lock);
  self->init_done = TRUE;
  g_cond_signal (&self->init_cond);
  g_mutex_unlock (&self->init_lock);

  if (ok)
    g_main_loop_run (self->loop);

  server_teardown (self);
  osvdi_spice_core_unbind_thread ();
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

static gboolean
update_ticket_dispatch (gpointer data)
{
  GstSpiceSink *self = data;
  gchar *password;
  guint lifetime;
  gboolean disabled;

  GST_OBJECT_LOCK (self);
  password = g_strdup (self->password);
  lifetime = self->password_lifetime;
  disabled = self->disable_ticketing;
  GST_OBJECT_UNLOCK (self);

  if (self->server && !disabled && password) {
    GST_INFO_OBJECT (self, "updating the ticket");
    spice_server_set_ticket (self->server, password, lifetime, 0, 0);
  }
  g_free (password);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* GstBaseSink                                                              */

static void
server_config_clear (ServerConfig * cfg)
{
  g_free (cfg->address);
  g_free (cfg->x509_dir);
  if (cfg->password)
    memset (cfg->password, 0, strlen (cfg->password));
  g_free (cfg->password);
  memset (cfg, 0, sizeof (*cfg));
}

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
  ServerConfig *cfg = &self->config;
  GError *error = NULL;
  gchar *password_file;
  gboolean frame_end;

  GST_OBJECT_LOCK (self);
  cfg->address = g_strdup (self->address);
  cfg->port = self->port;
  cfg->tls_port = self->tls_port;
  cfg->x509_dir = g_strdup (self->x509_dir);
  cfg->password = g_strdup (self->password);
  cfg->password_lifetime = self->password_lifetime;
  cfg->disable_ticketing = self->disable_ticketing;
  cfg->absolute_pointer = self->absolute_pointer;
  cfg->audio_clock = self->audio_clock;
  frame_end = self->h264_frame_end_setting;
  password_file = g_strdup (self->password_file);
  GST_OBJECT_UNLOCK (self);

  if (password_file && !cfg->disable_ticketing) {
    gchar *contents = NULL;

    if (!g_file_get_contents (password_file, &contents, NULL, &error))
      goto no_password_file;
    /* The first line is the ticket. */
    contents[strcspn (contents, "\r\n")] = '\0';
    if (cfg->password)
      memset (cfg->password, 0, strlen (cfg->password));
    g_free (cfg->password);
    cfg->password = contents;
  }
  g_clear_pointer (&password_file, g_free);

  if (!cfg->disable_ticketing && (!cfg->password || !*cfg->password))
    goto no_ticket;
  if (cfg->port <= 0 && cfg->tls_port <= 0)
    goto no_port;
  if (cfg->tls_port > 0 && (!cfg->x509_dir || !*cfg->x509_dir))
    goto no_x509_dir;
  if (cfg->tls_port > 0 && !check_x509_dir (self, cfg->x509_dir))
    goto failed;
  if (cfg->tls_port > 0 && cfg->tls_port == cfg->port)
    goto same_ports;

  osvdi_stream_parser_reset (&self->parser);
  memset (&self->scancodes, 0, sizeof (self->scancodes));
  self->modifiers = 0;
  self->mouse_buttons = 0;
  self->pointer_x = self->pointer_y = 0;
  self->client_connections = g_hash_table_new (NULL, NULL);

  g_mutex_lock (&self->lock);
  self->h264_frame_end = frame_end;
  g_mutex_unlock (&self->lock);

  self->upstream = g_thread_pool_new_full (push_upstream_func, self,
      (GDestroyNotify) gst_event_unref, 1, TRUE, &error);
  if (!self->upstream)
    goto no_thread;

  g_mutex_lock (&self->lock);
  self->context = g_main_context_new ();
  g_mutex_unlock (&self->lock);
  self->loop = g_main_loop_new (self->context, FALSE);
  self->init_done = FALSE;
  self->thread = g_thread_try_new ("spicesink", server_thread_func, self,
      &error);
  if (!self->thread)
    goto no_thread;

  g_mutex_lock (&self->init_lock);
  while (!self->init_done)
    g_cond_wait (&self->init_cond, &self->init_lock);
  g_mutex_unlock (&self->init_lock);

  if (self->init_error_text)
    goto server_failed;

  GST_INFO_OBJECT (self, "SPICE server on %s port %d TLS port %d (%s)",
      cfg->address, cfg->port, cfg->tls_port,
      cfg->disable_ticketing ? "no ticket" : "ticket required");
  GST_OBJECT_LOCK (self);
  self->server_running = TRUE;
  GST_OBJECT_UNLOCK (self);
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
        ("\"port\" and \"tls-port\" are both %d.", cfg->port), (NULL));
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
        GST_RESOURCE_ERROR, self->init_error, self->init_error_text,
        self->init_error_detail, __FILE__, GST_FUNCTION, __LINE__);
    self->init_error_text = self->init_error_detail = NULL;
    goto failed;
  }
failed:
  {
    /* stop() is not called after a failed start(). */
    GstBaseSinkClass *klass = GST_BASE_SINK_GET_CLASS (bsink);

    klass->stop (bsink);
    return FALSE;
  }
}

static gboolean
quit_dispatch (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gboolean
gst_spice_sink_stop (GstBaseSink * bsink)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  GMainContext *context;
  GQueue trash = G_QUEUE_INIT;

  GST_OBJECT_LOCK (self);
  self->server_running = FALSE;
  GST_OBJECT_UNLOCK (self);
  if (self->thread) {
    GSource *source = g_idle_source_new ();

    g_source_set_callback (source, quit_dispatch,
        g_main_loop_ref (self->loop), (GDestroyNotify) g_main_loop_unref);
    g_source_attach (source, self->context);
    g_source_unref (source);
    g_thread_join (self->thread);
    self->thread = NULL;
  }
  if (self->upstream) {
    /* Events not yet pushed are dropped: the pipeline is going down. */
    g_thread_pool_free (self->upstream, TRUE, TRUE);
    self->upstream = NULL;
  }

  g_mutex_lock (&self->lock);
  context = self->context;
  self->context = NULL;
  if (self->current)
    g_queue_push_tail (&trash, self->current);
  self->current = NULL;
  while (!g_queue_is_empty (&self->queue))
    g_queue_push_tail (&trash, g_queue_pop_head (&self->queue));
  self->current_offset = 0;
  self->waiting_frames = 0;
  self->client_started = FALSE;
  self->streaming = FALSE;
  self->need_keyframe = FALSE;
  self->keyframe_requested = FALSE;
  self->wakeup_pending = FALSE;
  self->n_client_codecs = 0;
  self->clients = 0;
  self->client_mouse = FALSE;
  /* The next run's caps say what its stream is: a client arriving before
   * them must not get this run's FORMAT. */
  self->codec = -1;
  self->width = self->height = 0;
  g_clear_pointer (&self->cursor_shape, g_bytes_unref);
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);

  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&context, g_main_context_unref);
  g_clear_pointer (&self->client_connections, g_hash_table_unref);
  server_config_clear (&self->config);
  return TRUE;
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

static gboolean
gst_spice_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint codec = codec_from_caps (s);
  gint width = 0, height = 0;
  gchar *accepted = NULL;
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
    /* Old frames do not belong to the new format. */
    if (self->client_started)
      restart_stream_locked (self, &accepted, &trash);
  }
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);

  GST_INFO_OBJECT (self, "stream is %s %dx%d", osvdi_stream_codec_name (codec),
      width, height);
  if (accepted)
    warn_codec_not_accepted (self, codec, accepted);
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

static GstFlowReturn
gst_spice_sink_render (GstBaseSink * bsink, GstBuffer * buffer)
{
  GstSpiceSink *self = GST_SPICE_SINK (bsink);
  gboolean keyframe = !GST_BUFFER_FLAG_IS_SET (buffer,
      GST_BUFFER_FLAG_DELTA_UNIT);
  gsize size = gst_buffer_get_size (buffer);
  gboolean request = FALSE;
  guint dropped = 0;
  GQueue trash = G_QUEUE_INIT;
  OutMsg *msg;

  if (size == 0)
    return GST_FLOW_OK;
  if (size > OSVDI_STREAM_MAX_DATA)
    goto too_big;

  g_mutex_lock (&self->lock);
  if (!self->streaming)
    goto out;                   /* nobody watches */

  if (self->need_keyframe && !keyframe) {
    dropped = 1;
    goto out;
  }
  if (self->waiting_frames >= MAX_WAITING_FRAMES) {
    if (!keyframe) {
      /* The client is behind: skip to the next keyframe, now. */
      dropped = 1;
      self->need_keyframe = TRUE;
      goto out;
    }
    /* A keyframe makes the frames still waiting useless. */
    dropped = drop_queued_frames_locked (self, &trash);
  }

  self->need_keyframe = FALSE;
  self->keyframe_requested = FALSE;
  if (self->codec == SPICE_VIDEO_CODEC_TYPE_H264 && self->h264_frame_end)
    msg = out_msg_new_frame (buffer, h264_frame_end,
        sizeof (h264_frame_end));
  else
    msg = out_msg_new_frame (buffer, NULL, 0);
  g_queue_push_tail (&self->queue, msg);
  self->waiting_frames++;
  self->max_waiting_frames = MAX (self->max_waiting_frames,
      self->waiting_frames);
  schedule_wakeup_locked (self);

out:
  /* A keyframe is asked for only while a client watches: with none, the
   * next client's START_STOP asks for one. */
  if (self->streaming && self->need_keyframe && !self->keyframe_requested) {
    self->keyframe_requested = TRUE;
    request = TRUE;
  }
  self->frames_dropped += dropped;
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);

  if (dropped)
    GST_LOG_OBJECT (self, "dropped %u frame(s)", dropped);
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
  GBytes *msg = NULL;

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
  g_clear_pointer (&self->cursor_shape, g_bytes_unref);
  self->cursor_shape = g_bytes_ref (msg);
  if (self->streaming)
    queue_cursor_locked (self, MSG_CURSOR_SET, msg);
  else
    g_bytes_unref (msg);
  g_mutex_unlock (&self->lock);
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
    queue_cursor_locked (self, MSG_CURSOR_MOVE,
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
    self->frames_dropped += drop_queued_frames_locked (self, &trash);
    self->need_keyframe = TRUE;
    self->keyframe_requested = FALSE;
    g_mutex_unlock (&self->lock);
    g_queue_clear_full (&trash, (GDestroyNotify) out_msg_free);
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
      "frames-sent", G_TYPE_UINT64, self->frames_sent,
      "bytes-sent", G_TYPE_UINT64, self->bytes_sent,
      "frames-dropped", G_TYPE_UINT64, self->frames_dropped,
      "keyframes-requested", G_TYPE_UINT64, self->keyframes_requested,
      "clients", G_TYPE_UINT, self->clients,
      "streaming", G_TYPE_BOOLEAN, self->streaming,
      "codec", G_TYPE_STRING, self->codec >= 0 ?
      osvdi_stream_codec_name (self->codec) : "none",
      "waiting-frames", G_TYPE_UINT, self->waiting_frames,
      "max-waiting-frames", G_TYPE_UINT, self->max_waiting_frames,
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
    g_mutex_lock (&self->lock);
    if (self->context) {
      GSource *source = g_idle_source_new ();

      g_source_set_callback (source, update_ticket_dispatch, self, NULL);
      g_source_attach (source, self->context);
      g_source_unref (source);
    }
    g_mutex_unlock (&self->lock);
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
  g_mutex_clear (&self->init_lock);
  g_cond_clear (&self->init_cond);

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
  g_mutex_init (&self->init_lock);
  g_cond_init (&self->init_cond);
  g_queue_init (&self->queue);

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
   * clients, streaming, codec, waiting-frames, max-waiting-frames and
   * mouse-mode (client or server).
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
      "stream device, and sends their input upstream",
      "OSVDI developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_spice_sink_change_state);

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_spice_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_spice_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_spice_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_spice_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_spice_sink_event);

  GST_DEBUG_CATEGORY_INIT (gst_spice_sink_debug, "spicesink", 0,
      "SPICE sink");
}
