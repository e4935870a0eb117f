/* OSVDI - a D-Bus client of QEMU's display (org.qemu.Display1), plain GIO
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-qemu-display.h"
#include "osvdi-qemu-display-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#define DISPLAY_PATH "/org/qemu/Display1"
#define LISTENER_PATH "/org/qemu/Display1/Listener"
#define CONSOLE_IFACE "org.qemu.Display1.Console"
#define KEYBOARD_IFACE "org.qemu.Display1.Keyboard"
#define MOUSE_IFACE "org.qemu.Display1.Mouse"
#define LISTENER_IFACE "org.qemu.Display1.Listener"
#define MAP_IFACE "org.qemu.Display1.Listener.Unix.Map"

/* pixman's x8r8g8b8 and a8r8g8b8: B G R x/A in memory on little-endian. */
#define PIXMAN_x8r8g8b8 0x20020888
#define PIXMAN_a8r8g8b8 0x20028888
#define FOURCC(a, b, c, d) ((guint32) (a) | ((guint32) (b) << 8) \
    | ((guint32) (c) << 16) | ((guint32) (d) << 24))

static const gchar listener_xml[] =
    "<node><interface name='" LISTENER_IFACE "'>"
    "<method name='Scanout'><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='ay' direction='in'/></method>"
    "<method name='Update'><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='ay' direction='in'/></method>"
    "<method name='ScanoutDMABUF'><arg type='h' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='t' direction='in'/><arg type='b' direction='in'/></method>"
    "<method name='UpdateDMABUF'><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/></method>"
    "<method name='Disable'/>"
    "<method name='MouseSet'><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/></method>"
    "<method name='CursorDefine'><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='ay' direction='in'/></method>"
    /* QEMU >= 8.1 reads it; >= 9.2 then sends 2D frames through a shared
     * memfd (the interface below) instead of inside each message. */
    "<property name='Interfaces' type='as' access='read'/>"
    "</interface>"
    "<interface name='" MAP_IFACE "'>"
    "<method name='ScanoutMap'><arg type='h' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='in'/></method>"
    "<method name='UpdateMap'><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='i' direction='in'/>"
    "<arg type='i' direction='in'/></method>"
    "</interface></node>";

struct _OsvdiQemuDisplay
{
  GThread *thread;
  GMainContext *context;        /* the display thread's, held by it */
  gint quitting;                /* atomic: free() asks the thread to end */
  GCancellable *cancellable;    /* cancelled by free() and the deadline */
  gint fd;                      /* the caller's fd number, for messages */
  guint console;
  guint timeout_s;
  gint64 deadline_us;           /* monotonic: connected by then, or failed */

  /* Display thread only. */
  GIOStream *stream;            /* until the connection is made */
  gboolean connect_done, timed_out;
  GError *connect_error;
  gboolean online;              /* connected, listener being registered */
  GDBusConnection *conn;        /* to QEMU's display */
  GDBusConnection *listener;    /* QEMU calls us here */
  GPtrArray *old_listeners;     /* replaced ones, until QEMU drops them */
  guint listener_id, map_id;
  guint props_sub;
  gchar *console_path;
  GDBusNodeInfo *listener_info;
  OsvdiQemuDisplayCallbacks callbacks;
  gpointer user_data;
  gboolean registering;         /* a RegisterListener is in flight */
  gboolean map_refused;         /* a ScanoutMap we could not take */
  guint pending_registers;      /* RegisterListener replies still to come */
  gint console_width, console_height;   /* from the Console properties */
  gboolean mouse_absolute;
  gint last_x, last_y;

  /* The console as the element sees it: lock. */
  GMutex lock;
  GCond cond;
  OsvdiQemuPixels *mirror;      /* 2D: the console, shared with frames */
  gboolean shared_map;          /* @mirror is QEMU's own memory (Unix.Map) */
  OsvdiQemuPixels *last_out;    /* the pixels of the last frame handed out */
  guint64 map_snapshots;        /* map frames copied: one was still held */
  guint64 map_held_writes;      /* UpdateMaps while a map frame was held */
  guint width, height, stride;
  guint32 fourcc;
  gboolean have_scanout;
  gboolean dmabuf;
  gint dmabuf_fd;
  guint64 modifier;
  gboolean y0_top;
  guint64 serial;
  gboolean damaged;
  gboolean wanted;              /* a frame was asked for (keyframe) */
  gboolean flushing;
  gboolean failed;              /* the connection was never made */
  gboolean closed;
  gchar *closed_reason;
  GPtrArray *pending_updates;   /* GDBusMethodInvocation, for UpdateDMABUF */
  guint64 mirror_copies;
};

/* ------------------------------------------------------------------------ */
/* The mirror of a 2D console. A frame takes a reference instead of a copy;
 * an update that finds the mirror still shared copies it first (so the
 * frame downstream keeps what it showed). Downstream normally lets go
 * within a frame (videoconvert, an encoder), so changes are written in
 * place and a frame costs no copy at all. */

struct _OsvdiQemuPixels
{
  gint ref;
  gsize size;
  guint8 *data;
  gpointer map;                 /* QEMU's memfd, mapped: unmapped at the end */
  gsize map_len;
};

static OsvdiQemuPixels *
pixels_new (gsize size)
{
  OsvdiQemuPixels *p = g_new (OsvdiQemuPixels, 1);

  p->ref = 1;
  p->size = size;
  p->data = g_malloc (size);
  p->map = NULL;
  p->map_len = 0;
  return p;
}

static OsvdiQemuPixels *
pixels_new_mapped (gpointer map, gsize map_len, gsize offset, gsize size)
{
  OsvdiQemuPixels *p = g_new (OsvdiQemuPixels, 1);

  p->ref = 1;
  p->size = size;
  p->data = (guint8 *) map + offset;
  p->map = map;
  p->map_len = map_len;
  return p;
}

void
osvdi_qemu_pixels_unref (gpointer pixels)
{
  OsvdiQemuPixels *p = pixels;

  if (p && g_atomic_int_dec_and_test (&p->ref)) {
    if (p->map)
      munmap (p->map, p->map_len);
    else
      g_free (p->data);
    g_free (p);
  }
}

/* Only next_frame hands out references, under the lock: seeing ours as the
 * last one here, nobody else can be reading. */
static guint8 *
mirror_writable_locked (OsvdiQemuDisplay * d)
{
  if (g_atomic_int_get (&d->mirror->ref) > 1) {
    OsvdiQemuPixels *copy = pixels_new (d->mirror->size);

    memcpy (copy->data, d->mirror->data, d->mirror->size);
    osvdi_qemu_pixels_unref (d->mirror);
    d->mirror = copy;
    d->mirror_copies++;
  }
  return d->mirror->data;
}

/* ------------------------------------------------------------------------ */
/* The listener: QEMU's calls, on the display thread. */

static void
close_reason_locked (OsvdiQemuDisplay * d, const gchar * reason)
{
  if (!d->closed) {
    d->closed = TRUE;
    d->closed_reason = g_strdup (reason);
  }
  g_cond_broadcast (&d->cond);
}

static void register_listener (OsvdiQemuDisplay * d);

static guint32
pixman_to_fourcc (guint32 format)
{
  switch (format) {
    case PIXMAN_x8r8g8b8:
      return FOURCC ('X', 'R', '2', '4');
    case PIXMAN_a8r8g8b8:
      return FOURCC ('A', 'R', '2', '4');
    default:
      return 0;
  }
}

static void
release_dmabuf_locked (OsvdiQemuDisplay * d)
{
  if (d->dmabuf_fd >= 0)
    close (d->dmabuf_fd);
  d->dmabuf_fd = -1;
  d->dmabuf = FALSE;
}

void
osvdi_qemu_display_on_scanout (OsvdiQemuDisplay * d, GVariant * params)
{
  guint32 w, h, stride, format, fourcc;
  GVariant *data;
  gsize len;
  const guint8 *src;
  guint row;

  g_variant_get (params, "(uuuu@ay)", &w, &h, &stride, &format, &data);
  src = g_variant_get_fixed_array (data, &len, 1);
  fourcc = pixman_to_fourcc (format);
  /* In 64 bits: a width of 2^30 or more wrapped w * 4 past a small stride,
   * and the mirror was then allocated at w * 4 * h (fuzz-qemu-display: a
   * 24 GB malloc for a 4-byte stride). */
  if (!fourcc || !w || !h || stride < (guint64) w * 4
      || len < (gsize) stride * h) {
    g_debug ("QEMU display: ignoring a %ux%u scanout (stride %u, pixman "
        "format 0x%08x, %" G_GSIZE_FORMAT " bytes)", w, h, stride, format,
        len);
    g_variant_unref (data);
    return;
  }
  g_mutex_lock (&d->lock);
  release_dmabuf_locked (d);
  /* Overwritten whole: a shared, mapped or wrong-sized mirror is just
   * replaced. */
  if (!d->mirror || d->shared_map || d->mirror->size != (gsize) w * 4 * h
      || g_atomic_int_get (&d->mirror->ref) > 1) {
    osvdi_qemu_pixels_unref (d->mirror);
    d->mirror = pixels_new ((gsize) w * 4 * h);
  }
  d->shared_map = FALSE;
  g_clear_pointer (&d->last_out, osvdi_qemu_pixels_unref);
  d->width = w;
  d->height = h;
  d->stride = w * 4;
  d->fourcc = fourcc;
  for (row = 0; row < h; row++)
    memcpy (d->mirror->data + (gsize) row * d->stride,
        src + (gsize) row * stride, d->stride);
  if (!d->have_scanout || d->dmabuf)
    d->serial++;
  d->have_scanout = TRUE;
  d->damaged = TRUE;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
  g_variant_unref (data);
}

gboolean
osvdi_qemu_display_on_update (OsvdiQemuDisplay * d, GVariant * params)
{
  gint32 x, y, w, h;
  guint32 stride, format;
  GVariant *data;
  gsize len;
  const guint8 *src;
  gint row;
  gboolean outside;

  g_variant_get (params, "(iiiiuu@ay)", &x, &y, &w, &h, &stride, &format,
      &data);
  src = g_variant_get_fixed_array (data, &len, 1);
  g_mutex_lock (&d->lock);
  /* QEMU 7.2 sends a resized surface's updates before (and without) a new
   * Scanout: an update outside the mirror means the size changed. In 64
   * bits: x + w overflowed int for a rectangle near 2^31 (undefined; and
   * w * 4 wrapped past a small stride), found by fuzz-qemu-display. */
  outside = !d->mirror || d->dmabuf || d->shared_map || x < 0 || y < 0
      || w <= 0 || h <= 0
      || (guint64) x + w > d->width || (guint64) y + h > d->height
      || stride < (guint64) w * 4
      || len < (guint64) stride * (h - 1) + (guint64) w * 4
      || pixman_to_fourcc (format) != d->fourcc;
  if (!outside) {
    guint8 *mirror = mirror_writable_locked (d);

    for (row = 0; row < h; row++)
      memcpy (mirror + (gsize) (y + row) * d->stride + (gsize) x * 4,
          src + (gsize) row * stride, (gsize) w * 4);
    d->damaged = TRUE;
    g_cond_broadcast (&d->cond);
  }
  g_mutex_unlock (&d->lock);
  g_variant_unref (data);
  return outside;
}

/* The fd a call carries at @handle (the caller's duplicate), or -1. */
static gint
take_fd (GDBusMethodInvocation * inv, GVariant * params)
{
  GUnixFDList *fds = g_dbus_message_get_unix_fd_list
      (g_dbus_method_invocation_get_message (inv));
  gint32 handle;

  g_variant_get_child (params, 0, "h", &handle);
  return fds && handle >= 0 && handle < g_unix_fd_list_get_length (fds)
      ? g_unix_fd_list_get (fds, handle, NULL) : -1;
}

void
osvdi_qemu_display_on_scanout_dmabuf (OsvdiQemuDisplay * d,
    GVariant * params, gint fd)
{
  gint32 handle;
  guint32 w, h, stride, fourcc;
  guint64 modifier;
  gboolean y0_top;

  g_variant_get (params, "(huuuutb)", &handle, &w, &h, &stride, &fourcc,
      &modifier, &y0_top);
  if (fd < 0) {
    g_debug ("QEMU display: ScanoutDMABUF without a file descriptor");
    return;
  }
  g_mutex_lock (&d->lock);
  release_dmabuf_locked (d);
  if (d->shared_map) {
    /* Unmapped once the last frame that shows it is gone. */
    g_clear_pointer (&d->mirror, osvdi_qemu_pixels_unref);
    g_clear_pointer (&d->last_out, osvdi_qemu_pixels_unref);
    d->shared_map = FALSE;
  }
  d->dmabuf = TRUE;
  d->dmabuf_fd = fd;
  d->width = w;
  d->height = h;
  d->stride = stride;
  d->fourcc = fourcc;
  d->modifier = modifier;
  d->y0_top = y0_top;
  d->serial++;
  d->have_scanout = TRUE;
  d->damaged = TRUE;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
}

/* Listener.Unix.Map (QEMU >= 9.2): the console in QEMU's own memfd. QEMU
 * waits for this reply (the call is synchronous on its side), then writes
 * the memory whenever the guest draws and tells us with UpdateMap, without
 * waiting. An error makes QEMU fall back to Scanout/Update for this
 * listener; later listeners no longer announce the map. A memfd shrunk
 * under the mapping would fault on read: QEMU allocates it at the
 * surface's size and never shrinks it (a guest cannot reach it). */
const gchar *
osvdi_qemu_display_on_scanout_map (OsvdiQemuDisplay * d, GVariant * params,
    gint fd)
{
  gint32 handle;
  guint32 offset, w, h, stride, format, fourcc;
  guint64 len;
  struct stat st;
  gpointer map;
  const gchar *why = NULL;

  g_variant_get (params, "(huuuuu)", &handle, &offset, &w, &h, &stride,
      &format);
  fourcc = pixman_to_fourcc (format);
  len = (guint64) offset + (guint64) stride * h;
  if (fd < 0)
    why = "no file descriptor";
  else if (!fourcc)
    why = "not an x8r8g8b8 or a8r8g8b8 surface";
  else if (!w || !h || w > 16384 || h > 16384 || stride < w * 4)
    why = "no sane size";
  else if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || (guint64) st.st_size < len)
    why = "the memory is smaller than the surface";
  if (!why) {
    map = mmap (NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
      why = g_strerror (errno);
  }
  if (fd >= 0)
    close (fd);
  if (why) {
    g_debug ("QEMU display: refusing a %ux%u shared map (stride %u, offset "
        "%u, pixman format 0x%08x): %s", w, h, stride, offset, format, why);
    d->map_refused = TRUE;
    return why;
  }
  g_mutex_lock (&d->lock);
  release_dmabuf_locked (d);
  osvdi_qemu_pixels_unref (d->mirror);
  d->mirror = pixels_new_mapped (map, len, offset, (gsize) stride * h);
  d->shared_map = TRUE;
  d->width = w;
  d->height = h;
  d->stride = stride;
  d->fourcc = fourcc;
  if (!d->have_scanout || d->dmabuf)
    d->serial++;
  d->have_scanout = TRUE;
  d->damaged = TRUE;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
  return NULL;
}

/* The last frame handed out is still held downstream. */
static gboolean
last_frame_held_locked (OsvdiQemuDisplay * d)
{
  /* Ours: last_out's reference, and the mirror's if it is the mirror. */
  gint ours = 1 + (d->last_out == d->mirror);

  return d->last_out && g_atomic_int_get (&d->last_out->ref) > ours;
}

void
osvdi_qemu_display_on_update_map (OsvdiQemuDisplay * d, GVariant * params)
{
  gint32 x, y, w, h;

  g_variant_get (params, "(iiii)", &x, &y, &w, &h);
  g_mutex_lock (&d->lock);
  if (!d->shared_map || x < 0 || y < 0 || w <= 0 || h <= 0
      || (guint) x + (guint) w > d->width
      || (guint) y + (guint) h > d->height) {
    g_debug ("QEMU display: ignoring UpdateMap %d,%d %dx%d (%s)", x, y, w,
        h, d->shared_map ? "outside the map" : "no map");
  } else {
    if (d->last_out == d->mirror && last_frame_held_locked (d))
      d->map_held_writes++;
    d->damaged = TRUE;
    g_cond_broadcast (&d->cond);
  }
  g_mutex_unlock (&d->lock);
}

void
osvdi_qemu_display_on_disable (OsvdiQemuDisplay * d)
{
  /* The guest turned its scanout off: no picture until the next Scanout;
   * the stream stays (the connection is what ends it). */
  g_mutex_lock (&d->lock);
  release_dmabuf_locked (d);
  d->have_scanout = FALSE;
  g_mutex_unlock (&d->lock);
}

void
osvdi_qemu_display_on_cursor_define (OsvdiQemuDisplay * d, GVariant * params)
{
  gint32 w, h, hx, hy;
  GVariant *data;
  gsize len;
  const guint8 *px;

  g_variant_get (params, "(iiii@ay)", &w, &h, &hx, &hy, &data);
  px = g_variant_get_fixed_array (data, &len, 1);
  if (w > 0 && h > 0 && w <= 512 && h <= 512 && len >= (gsize) w * h * 4
      && d->callbacks.cursor_define) {
    GBytes *bytes = g_bytes_new (px, (gsize) w * h * 4);

    d->callbacks.cursor_define (d->user_data, w, h, hx, hy, bytes);
    g_bytes_unref (bytes);
  }
  g_variant_unref (data);
}

static void
listener_method (GDBusConnection * conn, const gchar * sender,
    const gchar * path, const gchar * iface, const gchar * method,
    GVariant * params, GDBusMethodInvocation * inv, gpointer user_data)
{
  OsvdiQemuDisplay *d = user_data;

  if (conn != d->listener) {
    /* A replaced listener's last calls: stale sizes, ignore them. */
    g_dbus_method_invocation_return_value (inv, NULL);
    return;
  }
  if (g_str_equal (method, "Scanout")) {
    osvdi_qemu_display_on_scanout (d, params);
  } else if (g_str_equal (method, "Update")) {
    if (osvdi_qemu_display_on_update (d, params) && !d->registering)
      register_listener (d);
  } else if (g_str_equal (method, "ScanoutMap")) {
    const gchar *why = osvdi_qemu_display_on_scanout_map (d, params,
        take_fd (inv, params));

    if (why)
      g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR,
          G_DBUS_ERROR_INVALID_ARGS, "ScanoutMap refused: %s", why);
    else
      g_dbus_method_invocation_return_value (inv, NULL);
    return;
  } else if (g_str_equal (method, "UpdateMap")) {
    osvdi_qemu_display_on_update_map (d, params);
  } else if (g_str_equal (method, "ScanoutDMABUF")) {
    osvdi_qemu_display_on_scanout_dmabuf (d, params, take_fd (inv, params));
  } else if (g_str_equal (method, "UpdateDMABUF")) {
    /* QEMU draws again only after this reply: it goes out once the frame
     * that shows this update has left the source. */
    g_mutex_lock (&d->lock);
    d->damaged = TRUE;
    g_ptr_array_add (d->pending_updates, inv);
    g_cond_broadcast (&d->cond);
    g_mutex_unlock (&d->lock);
    return;
  } else if (g_str_equal (method, "Disable")) {
    osvdi_qemu_display_on_disable (d);
  } else if (g_str_equal (method, "MouseSet")) {
    gint32 x, y, on;

    g_variant_get (params, "(iii)", &x, &y, &on);
    if (d->callbacks.cursor_move)
      d->callbacks.cursor_move (d->user_data, x, y, on != 0);
  } else if (g_str_equal (method, "CursorDefine")) {
    osvdi_qemu_display_on_cursor_define (d, params);
  }
  g_dbus_method_invocation_return_value (inv, NULL);
}

static GVariant *
listener_get_property (GDBusConnection * conn, const gchar * sender,
    const gchar * path, const gchar * iface, const gchar * name,
    GError ** error, gpointer user_data)
{
  OsvdiQemuDisplay *d = user_data;
  const gchar *map[] = { MAP_IFACE, NULL };

  if (g_str_equal (name, "Interfaces"))
    return g_variant_new_strv (d->map_refused ? NULL : map,
        d->map_refused ? 0 : -1);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY,
      "No property %s", name);
  return NULL;
}

static const GDBusInterfaceVTable listener_vtable = {
  .method_call = listener_method,
  .get_property = listener_get_property,
};

/* ------------------------------------------------------------------------ */
/* Registering the listener (display thread). */

typedef struct
{
  OsvdiQemuDisplay *d;
  gint our_end;
} RegisterData;

static void
listener_closed (GDBusConnection * conn, gboolean remote, GError * error,
    gpointer user_data)
{
  OsvdiQemuDisplay *d = user_data;

  /* A replaced listener closes too; only the display connection's end
   * ends the session. */
  if (conn != d->listener)
    g_ptr_array_remove (d->old_listeners, conn);
}

static void
register_done (GObject * source, GAsyncResult * res, gpointer user_data)
{
  RegisterData *rd = user_data;
  OsvdiQemuDisplay *d = rd->d;
  GError *error = NULL;
  GVariant *ret = g_dbus_connection_call_with_unix_fd_list_finish
      (G_DBUS_CONNECTION (source), NULL, res, &error);

  d->registering = FALSE;
  d->pending_registers--;
  if (!ret) {
    g_mutex_lock (&d->lock);
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
      gchar *why = g_strdup_printf ("RegisterListener failed: %s",
          error->message);
      close_reason_locked (d, why);
      g_free (why);
    }
    g_mutex_unlock (&d->lock);
    g_clear_error (&error);
  } else {
    g_variant_unref (ret);
  }
  g_free (rd);
}

/* Our end is the D-Bus *client* of the new connection: QEMU answers
 * RegisterListener, then serves the handshake (a server on our side would
 * deadlock it and freeze the VM). */
static void
register_listener (OsvdiQemuDisplay * d)
{
  gint sv[2];
  GUnixFDList *fds;
  GSocket *sock;
  GSocketConnection *stream;
  GDBusConnection *conn;
  GError *error = NULL;
  RegisterData *rd;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    g_mutex_lock (&d->lock);
    close_reason_locked (d, g_strerror (errno));
    g_mutex_unlock (&d->lock);
    return;
  }
  fds = g_unix_fd_list_new_from_array (&sv[1], 1);     /* takes sv[1] */
  rd = g_new0 (RegisterData, 1);
  rd->d = d;
  d->registering = TRUE;
  d->pending_registers++;
  g_dbus_connection_call_with_unix_fd_list (d->conn, NULL, d->console_path,
      CONSOLE_IFACE, "RegisterListener", g_variant_new ("(h)", 0), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, fds, NULL, register_done, rd);
  g_object_unref (fds);

  sock = g_socket_new_from_fd (sv[0], &error);
  if (!sock)
    goto failed;
  stream = g_socket_connection_factory_create_connection (sock);
  g_object_unref (sock);
  conn = g_dbus_connection_new_sync (G_IO_STREAM (stream), NULL,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
      G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING, NULL, d->cancellable,
      &error);
  g_object_unref (stream);
  if (!conn)
    goto failed;
  g_dbus_connection_set_exit_on_close (conn, FALSE);
  /* The old listener stays open until QEMU drops it: QEMU 7.2 files p2p
   * listeners under one name, and our closing the old one would make it
   * remove the new one. */
  if (d->listener)
    g_ptr_array_add (d->old_listeners, d->listener);
  d->listener = conn;
  g_signal_connect (conn, "closed", G_CALLBACK (listener_closed), d);
  d->listener_id = g_dbus_connection_register_object (conn, LISTENER_PATH,
      d->listener_info->interfaces[0], &listener_vtable, d, NULL, &error);
  if (!d->listener_id)
    goto failed;
  d->map_id = g_dbus_connection_register_object (conn, LISTENER_PATH,
      d->listener_info->interfaces[1], &listener_vtable, d, NULL, &error);
  if (!d->map_id)
    goto failed;
  g_dbus_connection_start_message_processing (conn);
  return;

failed:
  g_mutex_lock (&d->lock);
  {
    gchar *why = g_strdup_printf ("setting up the display listener: %s",
        error->message);
    close_reason_locked (d, why);
    g_free (why);
  }
  g_mutex_unlock (&d->lock);
  g_clear_error (&error);
}

/* ------------------------------------------------------------------------ */
/* Console and mouse properties (display thread). */

static void
apply_property (OsvdiQemuDisplay * d, const gchar * iface, const gchar * name,
    GVariant * value)
{
  if (g_str_equal (iface, CONSOLE_IFACE)) {
    if (g_str_equal (name, "Width") && g_variant_is_of_type (value,
            G_VARIANT_TYPE_UINT32))
      d->console_width = g_variant_get_uint32 (value);
    else if (g_str_equal (name, "Height") && g_variant_is_of_type (value,
            G_VARIANT_TYPE_UINT32))
      d->console_height = g_variant_get_uint32 (value);
  } else if (g_str_equal (iface, MOUSE_IFACE) && g_str_equal (name,
          "IsAbsolute") && g_variant_is_of_type (value,
          G_VARIANT_TYPE_BOOLEAN)) {
    d->mouse_absolute = g_variant_get_boolean (value);
  }
}

static void
properties_changed (GDBusConnection * conn, const gchar * sender,
    const gchar * path, const gchar * iface, const gchar * signal,
    GVariant * params, gpointer user_data)
{
  OsvdiQemuDisplay *d = user_data;
  const gchar *changed_iface, *name;
  GVariantIter *iter;
  GVariant *value;
  gboolean resized;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (params, "(&sa{sv}as)", &changed_iface, &iter, NULL);
  while (g_variant_iter_next (iter, "{&sv}", &name, &value)) {
    apply_property (d, changed_iface, name, value);
    g_variant_unref (value);
  }
  g_variant_iter_free (iter);
  g_debug ("QEMU display: console %dx%d", d->console_width,
      d->console_height);

  /* The 7.2 resize trap: no new Scanout comes for a resized surface; a new
   * listener registration makes QEMU send one of the right size. Not on
   * the shared map: QEMU maps each new surface with its first update (one
   * it cannot share comes inline, and on_update catches that). */
  g_mutex_lock (&d->lock);
  resized = d->have_scanout && !d->dmabuf && !d->shared_map
      && d->console_width > 0
      && d->console_height > 0 && ((guint) d->console_width != d->width
      || (guint) d->console_height != d->height);
  g_mutex_unlock (&d->lock);
  if (resized && !d->registering)
    register_listener (d);
}

static void
load_properties (OsvdiQemuDisplay * d, const gchar * iface)
{
  GVariant *ret, *props, *value;
  GVariantIter iter;
  const gchar *name;

  ret = g_dbus_connection_call_sync (d->conn, NULL, d->console_path,
      "org.freedesktop.DBus.Properties", "GetAll", g_variant_new ("(s)",
          iface), G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000,
      d->cancellable, NULL);
  if (!ret)
    return;
  props = g_variant_get_child_value (ret, 0);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value)) {
    apply_property (d, iface, name, value);
    g_variant_unref (value);
  }
  g_variant_unref (props);
  g_variant_unref (ret);
}

static void
display_closed (GDBusConnection * conn, gboolean remote, GError * error,
    gpointer user_data)
{
  OsvdiQemuDisplay *d = user_data;
  gchar *why = g_strdup_printf ("QEMU closed the display connection%s%s "
      "(the VM shut down or was destroyed, or another client took the "
      "display)", error ? ": " : "", error ? error->message : "");

  g_mutex_lock (&d->lock);
  close_reason_locked (d, why);
  g_mutex_unlock (&d->lock);
  g_free (why);
}

/* ------------------------------------------------------------------------ */

/* Connecting (display thread): QEMU's end may never answer the D-Bus
 * handshake (a wedged QEMU, a wrong fd): everything up to a listening
 * console is bounded by the deadline and cancelled by free(). */

static gboolean
deadline_passed (gpointer data)
{
  OsvdiQemuDisplay *d = data;

  d->timed_out = TRUE;
  g_cancellable_cancel (d->cancellable);
  return G_SOURCE_REMOVE;
}

static void
connection_made (GObject * source, GAsyncResult * res, gpointer data)
{
  OsvdiQemuDisplay *d = data;

  d->conn = g_dbus_connection_new_finish (res, &d->connect_error);
  d->connect_done = TRUE;
}

static gchar *
connect_failure (OsvdiQemuDisplay * d, const gchar * what, GError * error)
{
  if (d->timed_out || g_error_matches (error, G_IO_ERROR,
          G_IO_ERROR_TIMED_OUT))
    return g_strdup_printf ("QEMU's display on fd %d did not answer within "
        "%u s", d->fd, d->timeout_s);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_strdup_printf ("connecting to QEMU's display on fd %d was "
        "cancelled", d->fd);
  return g_strdup_printf ("QEMU's display on fd %d %s: %s", d->fd, what,
      error->message);
}

/* The D-Bus handshake, then a look at the console: a clear error now beats
 * a silent stream. NULL, or why not. */
static gchar *
display_connect (OsvdiQemuDisplay * d)
{
  GSource *timer;
  GVariant *ret;
  GError *error = NULL;
  gint64 left_ms;
  gchar *why = NULL;

  timer = g_timeout_source_new (MAX (0, (d->deadline_us
              - g_get_monotonic_time ()) / 1000));
  g_source_set_callback (timer, deadline_passed, d, NULL);
  g_source_attach (timer, d->context);

  g_dbus_connection_new (d->stream, NULL,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, d->cancellable,
      connection_made, d);
  /* Always to the end: the callback uses @d. A cancelled handshake ends at
   * once (its reads wait on the cancellable too). */
  while (!d->connect_done)
    g_main_context_iteration (d->context, TRUE);
  g_clear_object (&d->stream);
  if (!d->conn) {
    why = connect_failure (d, "failed the D-Bus handshake", d->connect_error);
    goto out;
  }
  g_dbus_connection_set_exit_on_close (d->conn, FALSE);

  left_ms = (d->deadline_us - g_get_monotonic_time ()) / 1000;
  ret = g_dbus_connection_call_sync (d->conn, NULL, d->console_path,
      "org.freedesktop.DBus.Properties", "Get", g_variant_new ("(ss)",
          CONSOLE_IFACE, "Label"), NULL, G_DBUS_CALL_FLAGS_NONE,
      (gint) CLAMP (left_ms, 1, G_MAXINT), d->cancellable, &error);
  if (!ret) {
    gchar *what = g_strdup_printf ("has no console %u", d->console);

    why = connect_failure (d, what, error);
    g_free (what);
    g_clear_error (&error);
    goto out;
  }
  g_variant_unref (ret);

out:
  g_source_destroy (timer);
  g_source_unref (timer);
  return why;
}

static gpointer
display_thread (gpointer data)
{
  OsvdiQemuDisplay *d = data;
  gchar *why;

  /* Held for the thread's life: input handed over with
   * g_main_context_invoke() then always runs here, never in the caller. */
  g_main_context_acquire (d->context);
  g_main_context_push_thread_default (d->context);

  why = display_connect (d);
  if (why) {
    g_mutex_lock (&d->lock);
    d->failed = TRUE;
    close_reason_locked (d, why);
    g_mutex_unlock (&d->lock);
    g_free (why);
  } else {
    d->online = TRUE;
    d->props_sub = g_dbus_connection_signal_subscribe (d->conn, NULL,
        "org.freedesktop.DBus.Properties", "PropertiesChanged",
        d->console_path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, properties_changed,
        d, NULL);
    g_signal_connect (d->conn, "closed", G_CALLBACK (display_closed), d);
    load_properties (d, CONSOLE_IFACE);
    load_properties (d, MOUSE_IFACE);
    register_listener (d);
  }

  while (!g_atomic_int_get (&d->quitting))
    g_main_context_iteration (d->context, TRUE);

  d->online = FALSE;
  if (d->props_sub)
    g_dbus_connection_signal_unsubscribe (d->conn, d->props_sub);
  g_ptr_array_set_size (d->old_listeners, 0);
  if (d->listener) {
    if (d->listener_id)
      g_dbus_connection_unregister_object (d->listener, d->listener_id);
    if (d->map_id)
      g_dbus_connection_unregister_object (d->listener, d->map_id);
    g_dbus_connection_close_sync (d->listener, NULL, NULL);
    g_clear_object (&d->listener);
  }
  if (d->conn) {
    g_signal_handlers_disconnect_by_data (d->conn, d);
    g_dbus_connection_close_sync (d->conn, NULL, NULL);
  }
  /* The closed connection fails what is in flight: let those callbacks
   * (register_done) run before @d goes. */
  while (d->pending_registers)
    g_main_context_iteration (d->context, TRUE);
  while (g_main_context_iteration (d->context, FALSE));
  g_main_context_pop_thread_default (d->context);
  g_main_context_release (d->context);
  return NULL;
}

/* Everything but the connection and its thread. */
static OsvdiQemuDisplay *
display_alloc (guint console, const OsvdiQemuDisplayCallbacks * callbacks,
    gpointer user_data)
{
  OsvdiQemuDisplay *d = g_new0 (OsvdiQemuDisplay, 1);

  d->fd = -1;
  d->console = console;
  d->cancellable = g_cancellable_new ();
  /* A connection signals ("closed") in the context it was made in: the
   * display thread's. */
  d->context = g_main_context_new ();
  d->console_path = g_strdup_printf (DISPLAY_PATH "/Console_%u", console);
  d->listener_info = g_dbus_node_info_new_for_xml (listener_xml, NULL);
  if (callbacks)
    d->callbacks = *callbacks;
  d->user_data = user_data;
  d->dmabuf_fd = -1;
  d->console_width = d->console_height = -1;
  d->pending_updates = g_ptr_array_new ();
  d->old_listeners = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&d->lock);
  g_cond_init (&d->cond);
  return d;
}

OsvdiQemuDisplay *
osvdi_qemu_display_new (gint fd, guint console, guint timeout_s,
    const OsvdiQemuDisplayCallbacks * callbacks, gpointer user_data,
    GError ** error)
{
  OsvdiQemuDisplay *d;
  GSocket *sock;
  gint own = fcntl (fd, F_DUPFD_CLOEXEC, 3);

  g_return_val_if_fail (timeout_s > 0, NULL);

  if (own < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
        "qemu-display-fd %d: %s", fd, g_strerror (errno));
    return NULL;
  }
  sock = g_socket_new_from_fd (own, error);
  if (!sock) {
    close (own);
    g_prefix_error (error, "qemu-display-fd %d is not QEMU's display: ", fd);
    return NULL;
  }

  d = display_alloc (console, callbacks, user_data);
  d->stream = G_IO_STREAM (g_socket_connection_factory_create_connection
      (sock));
  g_object_unref (sock);
  d->fd = fd;
  d->timeout_s = timeout_s;
  d->deadline_us = g_get_monotonic_time () + timeout_s * G_TIME_SPAN_SECOND;
  d->thread = g_thread_new ("qemu-display", display_thread, d);
  return d;
}

OsvdiQemuDisplay *
osvdi_qemu_display_new_unconnected (guint console,
    const OsvdiQemuDisplayCallbacks * callbacks, gpointer user_data)
{
  return display_alloc (console, callbacks, user_data);
}

static void
reply_all (GPtrArray * invocations)
{
  guint i;

  for (i = 0; i < invocations->len; i++)
    g_dbus_method_invocation_return_value (invocations->pdata[i], NULL);
  g_ptr_array_set_size (invocations, 0);
}

void
osvdi_qemu_display_free (OsvdiQemuDisplay * d)
{
  if (!d)
    return;
  /* Cancelled first: a handshake or call in progress ends at once. The
   * wake-up stays pending until the thread's next poll. */
  g_atomic_int_set (&d->quitting, TRUE);
  g_cancellable_cancel (d->cancellable);
  g_main_context_wakeup (d->context);
  /* (None for an unconnected display: the fuzz target's.) */
  if (d->thread)
    g_thread_join (d->thread);
  reply_all (d->pending_updates);
  g_ptr_array_unref (d->pending_updates);
  g_ptr_array_unref (d->old_listeners);
  g_clear_pointer (&d->context, g_main_context_unref);
  g_clear_object (&d->conn);
  g_clear_object (&d->cancellable);
  g_clear_error (&d->connect_error);
  g_clear_pointer (&d->listener_info, g_dbus_node_info_unref);
  if (d->dmabuf_fd >= 0)
    close (d->dmabuf_fd);
  osvdi_qemu_pixels_unref (d->mirror);
  osvdi_qemu_pixels_unref (d->last_out);
  g_free (d->console_path);
  g_free (d->closed_reason);
  g_mutex_clear (&d->lock);
  g_cond_clear (&d->cond);
  g_free (d);
}

static void
fill_frame_locked (OsvdiQemuDisplay * d, OsvdiQemuFrame * f)
{
  f->width = d->width;
  f->height = d->height;
  f->stride = d->stride;
  f->fourcc = d->fourcc;
  f->modifier = d->dmabuf ? d->modifier : 0;
  f->dmabuf = d->dmabuf;
  /* Duplicated here, under the lock: once it is released the display
   * thread may close d->dmabuf_fd (a new scanout, Disable) and the number
   * could name another file. */
  f->dmabuf_fd = d->dmabuf && d->dmabuf_fd >= 0
      ? fcntl (d->dmabuf_fd, F_DUPFD_CLOEXEC, 3) : -1;
  f->y0_top = d->dmabuf ? d->y0_top : TRUE;
  f->scanout_serial = d->serial;
  f->token = NULL;
  f->pixels = NULL;
  f->data = NULL;
}

OsvdiQemuFrameResult
osvdi_qemu_display_next_frame (OsvdiQemuDisplay * d, gint64 deadline_us,
    gboolean force, OsvdiQemuFrame * f)
{
  OsvdiQemuFrameResult res;
  OsvdiQemuPixels *copy_from = NULL;

  g_mutex_lock (&d->lock);
  for (;;) {
    if (d->flushing) {
      res = OSVDI_QEMU_FRAME_FLUSHING;
      break;
    }
    if (d->failed) {
      res = OSVDI_QEMU_FRAME_FAILED;
      break;
    }
    if (d->closed) {
      res = OSVDI_QEMU_FRAME_CLOSED;
      break;
    }
    if (d->have_scanout && (d->damaged || force || d->wanted)) {
      fill_frame_locked (d, f);
      if (!d->dmabuf) {
        OsvdiQemuPixels *px = d->mirror;

        if (d->shared_map && last_frame_held_locked (d)) {
          /* Downstream keeps frames: QEMU would change this one under it
           * (it writes the map without waiting), so it gets a copy. */
          px = pixels_new (d->mirror->size);
          /* Copied once the lock is released: the map stays while held. */
          copy_from = d->mirror;
          g_atomic_int_inc (&copy_from->ref);
          d->map_snapshots++;
        } else {
          g_atomic_int_inc (&px->ref);
        }
        f->pixels = px;
        f->data = px->data;
        osvdi_qemu_pixels_unref (d->last_out);
        d->last_out = NULL;
        if (d->shared_map) {
          g_atomic_int_inc (&px->ref);
          d->last_out = px;
        }
      }
      if (d->dmabuf && d->pending_updates->len) {
        /* These replies wait for the frame: handed over with it. */
        GPtrArray *owed = g_ptr_array_new ();

        g_ptr_array_extend_and_steal (owed, d->pending_updates);
        d->pending_updates = g_ptr_array_new ();
        f->token = owed;
      }
      d->damaged = FALSE;
      d->wanted = FALSE;
      res = OSVDI_QEMU_FRAME_OK;
      break;
    }
    if (!g_cond_wait_until (&d->cond, &d->lock, deadline_us)) {
      res = OSVDI_QEMU_FRAME_TIMEOUT;
      break;
    }
  }
  g_mutex_unlock (&d->lock);
  if (copy_from) {
    memcpy ((guint8 *) f->data, copy_from->data, copy_from->size);
    osvdi_qemu_pixels_unref (copy_from);
  }
  return res;
}

void
osvdi_qemu_display_get_stats (OsvdiQemuDisplay * d,
    OsvdiQemuDisplayStats * stats)
{
  g_mutex_lock (&d->lock);
  stats->mirror_copies = d->mirror_copies;
  stats->map_snapshots = d->map_snapshots;
  stats->map_held_writes = d->map_held_writes;
  stats->shared_map = d->shared_map;
  g_mutex_unlock (&d->lock);
}

gboolean
osvdi_qemu_display_has_scanout (OsvdiQemuDisplay * d)
{
  gboolean have;

  g_mutex_lock (&d->lock);
  have = d->have_scanout;
  g_mutex_unlock (&d->lock);
  return have;
}

void
osvdi_qemu_display_frame_done (OsvdiQemuDisplay * d, gpointer token)
{
  GPtrArray *owed = token;

  if (!owed)
    return;
  reply_all (owed);
  g_ptr_array_unref (owed);
}

void
osvdi_qemu_display_want_frame (OsvdiQemuDisplay * d)
{
  g_mutex_lock (&d->lock);
  d->wanted = TRUE;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
}

void
osvdi_qemu_display_set_flushing (OsvdiQemuDisplay * d, gboolean flushing)
{
  g_mutex_lock (&d->lock);
  d->flushing = flushing;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
}

const gchar *
osvdi_qemu_display_closed_reason (OsvdiQemuDisplay * d)
{
  return d->closed_reason ? d->closed_reason : "the display connection "
      "closed";
}

/* ------------------------------------------------------------------------ */
/* Input: queued to the display thread, where the mouse mode is known. */

typedef enum
{ INPUT_KEY, INPUT_MOVE, INPUT_BUTTON } InputKind;

typedef struct
{
  OsvdiQemuDisplay *d;
  InputKind kind;
  guint code;
  gboolean pressed;
  gint x, y, dx, dy;
  gboolean have_delta;
} Input;

static void
input_done (GObject * source, GAsyncResult * res, gpointer user_data)
{
  GError *error = NULL;
  GVariant *ret = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
      res, &error);

  if (ret)
    g_variant_unref (ret);
  else {
    /* A guest that switched mouse mode in between: harmless, but say it. */
    g_debug ("QEMU input call failed: %s", error->message);
    g_error_free (error);
  }
}

static void
call (OsvdiQemuDisplay * d, const gchar * iface, const gchar * method,
    GVariant * args)
{
  g_dbus_connection_call (d->conn, NULL, d->console_path, iface, method,
      args, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, input_done, NULL);
}

static gboolean
input_dispatch (gpointer data)
{
  Input *in = data;
  OsvdiQemuDisplay *d = in->d;

  if (!d->online) {
    g_debug ("QEMU display: not connected, input dropped");
    return G_SOURCE_REMOVE;
  }

  switch (in->kind) {
    case INPUT_KEY:
      call (d, KEYBOARD_IFACE, in->pressed ? "Press" : "Release",
          g_variant_new ("(u)", in->code));
      break;
    case INPUT_BUTTON:
      call (d, MOUSE_IFACE, in->pressed ? "Press" : "Release",
          g_variant_new ("(u)", in->code));
      break;
    case INPUT_MOVE:
      if (d->mouse_absolute) {
        gint w = d->console_width > 0 ? d->console_width : (gint) d->width;
        gint h = d->console_height > 0 ? d->console_height : (gint) d->height;

        call (d, MOUSE_IFACE, "SetAbsPosition", g_variant_new ("(uu)",
                (guint) CLAMP (in->x, 0, MAX (w - 1, 0)),
                (guint) CLAMP (in->y, 0, MAX (h - 1, 0))));
      } else {
        gint dx = in->have_delta ? in->dx : in->x - d->last_x;
        gint dy = in->have_delta ? in->dy : in->y - d->last_y;

        if (dx || dy)
          call (d, MOUSE_IFACE, "RelMotion", g_variant_new ("(ii)", dx, dy));
      }
      d->last_x = in->x;
      d->last_y = in->y;
      break;
  }
  return G_SOURCE_REMOVE;
}

static void
queue_input (OsvdiQemuDisplay * d, Input * in)
{
  in->d = d;
  g_main_context_invoke_full (d->context, G_PRIORITY_DEFAULT, input_dispatch,
      g_memdup2 (in, sizeof (*in)), g_free);
}

void
osvdi_qemu_display_key (OsvdiQemuDisplay * d, guint qnum, gboolean pressed)
{
  Input in = {.kind = INPUT_KEY,.code = qnum,.pressed = pressed };

  queue_input (d, &in);
}

void
osvdi_qemu_display_mouse_move (OsvdiQemuDisplay * d, gint x, gint y,
    gboolean have_delta, gint dx, gint dy)
{
  Input in = {.kind = INPUT_MOVE,.x = x,.y = y,.have_delta = have_delta,
    .dx = dx,.dy = dy
  };

  queue_input (d, &in);
}

void
osvdi_qemu_display_mouse_button (OsvdiQemuDisplay * d, guint button,
    gboolean pressed)
{
  Input in = {.kind = INPUT_BUTTON,.code = button,.pressed = pressed };

  queue_input (d, &in);
}
