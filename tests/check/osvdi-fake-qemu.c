/* OSVDI tests - a stand-in for QEMU's D-Bus display (peer to peer)
 * SPDX-License-Identifier: Apache-2.0
 */
#include "osvdi-fake-qemu.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>

static const gchar console_xml[] =
    "<node><interface name='org.qemu.Display1.Console'>"
    "<method name='RegisterListener'><arg type='h' direction='in'/></method>"
    "<property name='Label' type='s' access='read'/>"
    "<property name='Width' type='u' access='read'/>"
    "<property name='Height' type='u' access='read'/>"
    "</interface>"
    "<interface name='org.qemu.Display1.Keyboard'>"
    "<method name='Press'><arg type='u' direction='in'/></method>"
    "<method name='Release'><arg type='u' direction='in'/></method>"
    "</interface></node>";

/* pixman's x8r8g8b8, the format QEMU 7.2 names in Scanout and Update. */
#define PIXMAN_X8R8G8B8 0x20020888u

#define LISTENER_PATH "/org/qemu/Display1/Listener"
#define LISTENER_IFACE "org.qemu.Display1.Listener"
#define MAP_IFACE "org.qemu.Display1.Listener.Unix.Map"

struct _OsvdiFakeQemu
{
  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;
  gint server_end;
  GDBusConnection *display;
  GDBusNodeInfo *info;
  OsvdiFakeQemuFlags flags;
  gint dmabuf;
  guint64 modifier;
  GBytes *pixels;               /* 2D mode's scanout */
  guint width, height, stride;
  GMutex lock;
  GCond cond;
  GDBusConnection *listener;    /* the newest; set on the peer's thread */
  GPtrArray *old_listeners;     /* replaced ones, closed by free() */
  gboolean listener_ready, scanout_done, update_replied;
  guint inputs;                 /* input calls received (and refused) */
  /* QEMU 10 mode: the console surface in a memfd, lock (written by draw
   * and resize on the caller's thread, shown from the peer's thread). */
  gboolean use_map;             /* the listener took a ScanoutMap */
  gboolean announced;           /* the listener announced Unix.Map */
  gint memfd;
  guint8 *map;                  /* all of the memfd, read-write */
  gsize map_size;
  guint map_offset, map_width, map_height, map_stride;
};

static gboolean
wait_flag (OsvdiFakeQemu * f, gboolean * flag, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  gboolean ok;

  g_mutex_lock (&f->lock);
  while (!*flag && g_cond_wait_until (&f->cond, &f->lock, end));
  ok = *flag;
  g_mutex_unlock (&f->lock);
  return ok;
}

static void
set_flag (OsvdiFakeQemu * f, gboolean * flag, gboolean value)
{
  g_mutex_lock (&f->lock);
  *flag = value;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

static GVariant *
get_property (GDBusConnection * c, const gchar * sender, const gchar * path,
    const gchar * iface, const gchar * prop, GError ** error, gpointer data)
{
  OsvdiFakeQemu *f = data;

  if (g_str_equal (prop, "Label"))
    return g_variant_new_string ("VGA");
  return g_variant_new_uint32 (g_str_equal (prop, "Width") ? f->width
      : f->height);
}

/* The listener connection, a reference (NULL before RegisterListener). */
static GDBusConnection *
listener_ref (OsvdiFakeQemu * f)
{
  GDBusConnection *c;

  g_mutex_lock (&f->lock);
  c = f->listener ? g_object_ref (f->listener) : NULL;
  g_mutex_unlock (&f->lock);
  return c;
}

/* QEMU >= 9.2 reads the listener's Interfaces property (as a proxy's
 * cached property); an error or no such property is a client that
 * predates it. */
static gboolean
listener_announces_map (GDBusConnection * listener)
{
  GError *error = NULL;
  GVariant *ret, *value;
  gboolean found = FALSE;

  ret = g_dbus_connection_call_sync (listener, NULL, LISTENER_PATH,
      "org.freedesktop.DBus.Properties", "Get", g_variant_new ("(ss)",
          LISTENER_IFACE, "Interfaces"), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  if (!ret) {
    g_debug ("fake QEMU: no Interfaces on the listener: %s", error->message);
    g_error_free (error);
    return FALSE;
  }
  g_variant_get (ret, "(v)", &value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY)) {
    const gchar **ifaces = g_variant_get_strv (value, NULL);

    found = g_strv_contains (ifaces, MAP_IFACE);
    g_free (ifaces);
  }
  g_variant_unref (value);
  g_variant_unref (ret);
  return found;
}

/* A new console surface in a memfd: @offset bytes, then @height rows of
 * @stride bytes, @pixels copied in (the same layout). */
static void
surface_new_locked (OsvdiFakeQemu * f, guint width, guint height,
    guint stride, guint offset, const guint8 * pixels)
{
  gsize size = (gsize) offset + (gsize) stride * height;
  gint fd = memfd_create ("osvdi-fake-qemu-surface", MFD_CLOEXEC);
  guint8 *map;

  if (fd < 0 || ftruncate (fd, size) != 0)
    g_error ("fake QEMU: memfd: %s", g_strerror (errno));
  map = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED)
    g_error ("fake QEMU: mmap: %s", g_strerror (errno));
  memset (map, 0x5a, offset);
  memcpy (map + offset, pixels, (gsize) stride * height);
  if (f->map)
    munmap (f->map, f->map_size);
  if (f->memfd >= 0)
    close (f->memfd);
  f->memfd = fd;
  f->map = map;
  f->map_size = size;
  f->map_offset = offset;
  f->map_width = width;
  f->map_height = height;
  f->map_stride = stride;
}

static void
update_map (GDBusConnection * listener, gint x, gint y, gint w, gint h)
{
  /* No callback: QEMU does not wait for the reply either. */
  g_dbus_connection_call (listener, NULL, LISTENER_PATH, MAP_IFACE,
      "UpdateMap", g_variant_new ("(iiii)", x, y, w, h), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
}

/* ScanoutMap of the current surface (synchronous, as QEMU makes it), then
 * an UpdateMap of it all (QEMU's first update of a surface). */
static gboolean
show_map (OsvdiFakeQemu * f, GDBusConnection * listener)
{
  GUnixFDList *fds = g_unix_fd_list_new ();
  GError *error = NULL;
  GVariant *ret;
  guint offset, w, h, stride;

  g_mutex_lock (&f->lock);
  g_unix_fd_list_append (fds, f->memfd, NULL);
  offset = f->map_offset;
  w = f->map_width;
  h = f->map_height;
  stride = f->map_stride;
  g_mutex_unlock (&f->lock);
  ret = g_dbus_connection_call_with_unix_fd_list_sync (listener, NULL,
      LISTENER_PATH, MAP_IFACE, "ScanoutMap", g_variant_new ("(huuuuu)", 0,
          offset, w, h, stride, PIXMAN_X8R8G8B8), NULL,
      G_DBUS_CALL_FLAGS_NONE, 5000, fds, NULL, NULL, &error);
  g_object_unref (fds);
  if (!ret) {
    /* QEMU then stops sharing the map with this listener. */
    g_debug ("fake QEMU: ScanoutMap: %s", error->message);
    g_error_free (error);
    return FALSE;
  }
  g_variant_unref (ret);
  g_mutex_lock (&f->lock);
  if (f->listener == listener)
    f->use_map = TRUE;
  g_mutex_unlock (&f->lock);
  update_map (listener, 0, 0, w, h);
  return TRUE;
}

/* Register a listener as QEMU does: reply first, then serve the handshake
 * on the new connection, then show the scanout. */
static void
method_call (GDBusConnection * c, const gchar * sender, const gchar * path,
    const gchar * iface, const gchar * method, GVariant * params,
    GDBusMethodInvocation * inv, gpointer data)
{
  OsvdiFakeQemu *f = data;
  GUnixFDList *fds;
  gint32 handle;
  gint fd;
  GSocket *sock;
  GSocketConnection *stream;
  gchar *guid = g_dbus_generate_guid ();
  GUnixFDList *out = NULL;
  GVariant *ret, *args;
  GError *error = NULL;
  GDBusConnection *listener;
  gboolean announced;

  if (g_str_equal (iface, "org.qemu.Display1.Keyboard")) {
    /* A QEMU that refuses the input (as it does a guest's wrong mouse
     * mode): the element must take that quietly. */
    g_dbus_method_invocation_return_dbus_error (inv,
        "org.qemu.Display1.Error.Invalid", "input refused by the stand-in");
    g_mutex_lock (&f->lock);
    f->inputs++;
    g_cond_broadcast (&f->cond);
    g_mutex_unlock (&f->lock);
    g_free (guid);
    return;
  }
  fds = g_dbus_message_get_unix_fd_list (g_dbus_method_invocation_get_message
      (inv));
  g_variant_get (params, "(h)", &handle);
  fd = g_unix_fd_list_get (fds, handle, NULL);
  g_dbus_method_invocation_return_value (inv, NULL);

  sock = g_socket_new_from_fd (fd, NULL);
  stream = g_socket_connection_factory_create_connection (sock);
  listener = g_dbus_connection_new_sync (G_IO_STREAM (stream), guid,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER, NULL, NULL, &error);
  g_object_unref (stream);
  g_object_unref (sock);
  g_free (guid);
  /* The element may go while it registers (a test stopping it): QEMU
   * shrugs that off, so does the stand-in. */
  if (!listener) {
    g_debug ("fake QEMU: listener connection: %s", error->message);
    g_error_free (error);
    return;
  }
  announced = (f->flags & OSVDI_FAKE_QEMU_10) && f->dmabuf < 0
      && listener_announces_map (listener);
  g_mutex_lock (&f->lock);
  if (f->listener)
    g_ptr_array_add (f->old_listeners, f->listener);
  f->listener = listener;
  f->announced = announced;
  f->use_map = FALSE;
  f->listener_ready = TRUE;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);

  if (f->flags & OSVDI_FAKE_QEMU_NO_SCANOUT) {
    /* Nothing shown; only a surface a test made is shown again to a
     * listener that registers anew. */
    if (announced && f->memfd >= 0 && show_map (f, listener))
      set_flag (f, &f->scanout_done, TRUE);
    return;
  }
  if (announced) {
    /* QEMU 10: the surface is a memfd; the first update of it after the
     * listener came is a ScanoutMap, then an UpdateMap of it all. */
    g_mutex_lock (&f->lock);
    if (f->memfd < 0)
      surface_new_locked (f, f->width, f->height, f->stride, 0,
          g_bytes_get_data (f->pixels, NULL));
    g_mutex_unlock (&f->lock);
    if (show_map (f, listener))
      set_flag (f, &f->scanout_done, TRUE);
    return;
  }

  if (f->dmabuf >= 0) {
    out = g_unix_fd_list_new ();
    g_unix_fd_list_append (out, f->dmabuf, NULL);
    method = "ScanoutDMABUF";
    args = g_variant_new ("(huuuutb)", 0, f->width, f->height, f->stride,
        0x34325258 /* XR24 */ , f->modifier, TRUE);
  } else {
    method = "Scanout";
    args = g_variant_new ("(uuuu@ay)", f->width, f->height, f->stride,
        PIXMAN_X8R8G8B8, g_variant_new_from_bytes
        (G_VARIANT_TYPE_BYTESTRING, f->pixels, TRUE));
  }
  ret = g_dbus_connection_call_with_unix_fd_list_sync (listener, NULL,
      LISTENER_PATH, LISTENER_IFACE, method, args, NULL,
      G_DBUS_CALL_FLAGS_NONE, 5000, out, NULL, NULL, &error);
  g_clear_object (&out);
  if (!ret) {
    g_debug ("fake QEMU: %s: %s", method, error->message);
    g_error_free (error);
    return;
  }
  g_variant_unref (ret);
  set_flag (f, &f->scanout_done, TRUE);
}

static gpointer
peer_thread (gpointer data)
{
  OsvdiFakeQemu *f = data;
  static const GDBusInterfaceVTable vtable = {
    .method_call = method_call,.get_property = get_property,
  };
  GSocket *sock = g_socket_new_from_fd (f->server_end, NULL);
  GSocketConnection *stream =
      g_socket_connection_factory_create_connection (sock);
  gchar *guid = g_dbus_generate_guid ();
  guint i;

  g_main_context_push_thread_default (f->ctx);
  f->display = g_dbus_connection_new_sync (G_IO_STREAM (stream), guid,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER |
      G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING, NULL, NULL, NULL);
  if (!f->display) {
    /* The element went before the handshake (a test stopping it). */
    g_debug ("fake QEMU: no display connection");
    goto out;
  }
  g_dbus_connection_register_object (f->display,
      "/org/qemu/Display1/Console_0", f->info->interfaces[0], &vtable, f,
      NULL, NULL);
  g_dbus_connection_register_object (f->display,
      "/org/qemu/Display1/Console_0", f->info->interfaces[1], &vtable, f,
      NULL, NULL);
  g_dbus_connection_start_message_processing (f->display);
  g_main_loop_run (f->loop);
  if (f->listener)
    g_dbus_connection_close_sync (f->listener, NULL, NULL);
  for (i = 0; i < f->old_listeners->len; i++)
    g_dbus_connection_close_sync (f->old_listeners->pdata[i], NULL, NULL);
  g_dbus_connection_close_sync (f->display, NULL, NULL);
  g_mutex_lock (&f->lock);
  g_clear_object (&f->listener);
  g_mutex_unlock (&f->lock);
  g_clear_object (&f->display);
out:
  g_main_context_pop_thread_default (f->ctx);
  g_object_unref (stream);
  g_object_unref (sock);
  g_free (guid);
  return NULL;
}

OsvdiFakeQemu *
osvdi_fake_qemu_new (guint width, guint height, guint stride, gint dmabuf,
    const guint8 * pixels, gint * element_fd)
{
  return osvdi_fake_qemu_new_modifier (width, height, stride, dmabuf, 0,
      pixels, element_fd);
}

static OsvdiFakeQemu *
fake_qemu_new (guint width, guint height, guint stride, gint dmabuf,
    guint64 modifier, const guint8 * pixels, OsvdiFakeQemuFlags flags,
    gint * element_fd)
{
  OsvdiFakeQemu *f = g_new0 (OsvdiFakeQemu, 1);
  gint sv[2];

  f->flags = flags;
  f->memfd = -1;
  f->old_listeners = g_ptr_array_new_with_free_func (g_object_unref);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    g_error ("fake QEMU: socketpair: %s", g_strerror (errno));
  f->server_end = sv[1];
  f->dmabuf = dmabuf;
  f->modifier = modifier;
  if (dmabuf < 0)
    f->pixels = g_bytes_new (pixels, (gsize) stride * height);
  f->width = width;
  f->height = height;
  f->stride = stride;
  f->info = g_dbus_node_info_new_for_xml (console_xml, NULL);
  f->ctx = g_main_context_new ();
  f->loop = g_main_loop_new (f->ctx, FALSE);
  g_mutex_init (&f->lock);
  g_cond_init (&f->cond);
  f->thread = g_thread_new ("fake-qemu", peer_thread, f);
  *element_fd = sv[0];
  return f;
}

OsvdiFakeQemu *
osvdi_fake_qemu_new_modifier (guint width, guint height, guint stride,
    gint dmabuf, guint64 modifier, const guint8 * pixels, gint * element_fd)
{
  return fake_qemu_new (width, height, stride, dmabuf, modifier, pixels, 0,
      element_fd);
}

OsvdiFakeQemu *
osvdi_fake_qemu_new_full (guint width, guint height, guint stride,
    const guint8 * pixels, OsvdiFakeQemuFlags flags, gint * element_fd)
{
  return fake_qemu_new (width, height, stride, -1, 0, pixels, flags,
      element_fd);
}

gboolean
osvdi_fake_qemu_wait_listener (OsvdiFakeQemu * f, guint ms)
{
  return wait_flag (f, &f->listener_ready, ms);
}

gboolean
osvdi_fake_qemu_uses_map (OsvdiFakeQemu * f)
{
  gboolean ret;

  g_mutex_lock (&f->lock);
  ret = f->use_map;
  g_mutex_unlock (&f->lock);
  return ret;
}

gboolean
osvdi_fake_qemu_draw (OsvdiFakeQemu * f, gint x, gint y, gint w, gint h,
    guint stride, const guint8 * pixels)
{
  GDBusConnection *listener;
  gboolean use_map;
  gint row;

  g_mutex_lock (&f->lock);
  use_map = f->use_map;
  if (use_map && (x < 0 || y < 0 || w <= 0 || h <= 0
          || (guint) (x + w) > f->map_width
          || (guint) (y + h) > f->map_height)) {
    g_mutex_unlock (&f->lock);
    g_critical ("fake QEMU: drawing %dx%d at %d,%d outside the surface",
        w, h, x, y);
    return FALSE;
  }
  if (use_map) {
    /* The guest draws into the shared surface whenever it likes. */
    for (row = 0; row < h; row++)
      memcpy (f->map + f->map_offset + (gsize) (y + row) * f->map_stride
          + (gsize) x * 4, pixels + (gsize) row * stride, (gsize) w * 4);
  }
  listener = f->listener ? g_object_ref (f->listener) : NULL;
  g_mutex_unlock (&f->lock);
  if (!listener)
    return FALSE;
  if (use_map) {
    update_map (listener, x, y, w, h);
    g_object_unref (listener);
    return TRUE;
  }
  g_object_unref (listener);
  return osvdi_fake_qemu_update (f, x, y, w, h, stride, pixels);
}

gboolean
osvdi_fake_qemu_resize (OsvdiFakeQemu * f, guint width, guint height,
    guint stride, guint offset, const guint8 * pixels)
{
  GDBusConnection *listener;
  gboolean ok;

  g_mutex_lock (&f->lock);
  if (!f->announced || !f->listener) {
    g_mutex_unlock (&f->lock);
    return FALSE;
  }
  listener = g_object_ref (f->listener);
  surface_new_locked (f, width, height, stride, offset, pixels);
  /* A new surface: QEMU shares it anew on its first update. */
  f->use_map = FALSE;
  g_mutex_unlock (&f->lock);
  ok = show_map (f, listener);
  g_object_unref (listener);
  return ok;
}

void
osvdi_fake_qemu_update_map (OsvdiFakeQemu * f, gint x, gint y, gint w,
    gint h)
{
  GDBusConnection *listener = listener_ref (f);

  if (listener) {
    update_map (listener, x, y, w, h);
    g_object_unref (listener);
  }
}

gboolean
osvdi_fake_qemu_scanout_map_abuse (OsvdiFakeQemu * f,
    OsvdiFakeMapAbuse abuse)
{
  GDBusConnection *listener = listener_ref (f);
  guint w = 64, h = 64, stride = 64 * 4, offset = 0;
  guint32 format = PIXMAN_X8R8G8B8;
  gint32 handle = 0;
  gsize size = (gsize) stride * h;
  GUnixFDList *fds = g_unix_fd_list_new ();
  GError *error = NULL;
  GVariant *ret;
  gint fd = -1, pipefd[2] = { -1, -1 };
  gboolean ok;

  if (!listener) {
    g_object_unref (fds);
    return FALSE;
  }
  switch (abuse) {
    case OSVDI_FAKE_MAP_SHORT_FD:
      /* One page where 64 rows of 256 bytes are claimed: a client that
       * reads past it takes a SIGBUS. */
      size = 4096;
      break;
    case OSVDI_FAKE_MAP_OFFSET_OVERFLOW:
      offset = G_MAXUINT32 - 4096;
      break;
    case OSVDI_FAKE_MAP_SHORT_STRIDE:
      stride = w * 4 - 4;
      break;
    case OSVDI_FAKE_MAP_BAD_FORMAT:
      format = 0x12345678;
      break;
    case OSVDI_FAKE_MAP_ZERO_SIZE:
      w = 0;
      break;
    case OSVDI_FAKE_MAP_BAD_HANDLE:
      handle = 3;
      break;
    default:
      break;
  }
  if (abuse == OSVDI_FAKE_MAP_PIPE) {
    if (pipe (pipefd) != 0)
      g_error ("fake QEMU: pipe: %s", g_strerror (errno));
    g_unix_fd_list_append (fds, pipefd[0], NULL);
  } else if (abuse != OSVDI_FAKE_MAP_NO_FD) {
    fd = memfd_create ("osvdi-fake-qemu-abuse", MFD_CLOEXEC);
    if (fd < 0 || ftruncate (fd, size) != 0)
      g_error ("fake QEMU: memfd: %s", g_strerror (errno));
    g_unix_fd_list_append (fds, fd, NULL);
  }
  ret = g_dbus_connection_call_with_unix_fd_list_sync (listener, NULL,
      LISTENER_PATH, MAP_IFACE, "ScanoutMap", g_variant_new ("(huuuuu)",
          handle, offset, w, h, stride, format), NULL,
      G_DBUS_CALL_FLAGS_NONE, 5000, abuse == OSVDI_FAKE_MAP_NO_FD ? NULL :
      fds, NULL, NULL, &error);
  ok = ret || g_dbus_error_is_remote_error (error);
  if (!ok)
    g_debug ("fake QEMU: abusive ScanoutMap %d: %s", abuse, error->message);
  g_clear_pointer (&ret, g_variant_unref);
  g_clear_error (&error);
  g_object_unref (fds);
  g_object_unref (listener);
  if (fd >= 0)
    close (fd);
  if (pipefd[0] >= 0) {
    close (pipefd[0]);
    close (pipefd[1]);
  }
  return ok;
}

gboolean
osvdi_fake_qemu_wait_scanout (OsvdiFakeQemu * f, guint ms)
{
  return wait_flag (f, &f->scanout_done, ms);
}

static void
update_replied (GObject * src, GAsyncResult * res, gpointer data)
{
  OsvdiFakeQemu *f = data;
  GVariant *ret = g_dbus_connection_call_finish (G_DBUS_CONNECTION (src), res,
      NULL);

  set_flag (f, &f->update_replied, ret != NULL);
  if (ret)
    g_variant_unref (ret);
}

static gboolean
send_update_dmabuf (gpointer data)
{
  OsvdiFakeQemu *f = data;

  g_dbus_connection_call (f->listener, NULL, LISTENER_PATH, LISTENER_IFACE,
      "UpdateDMABUF", g_variant_new ("(iiii)", 0, 0, f->width, f->height),
      NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, update_replied, f);
  return G_SOURCE_REMOVE;
}

void
osvdi_fake_qemu_update_dmabuf (OsvdiFakeQemu * f)
{
  set_flag (f, &f->update_replied, FALSE);
  g_main_context_invoke (f->ctx, send_update_dmabuf, f);
}

gboolean
osvdi_fake_qemu_wait_update_replied (OsvdiFakeQemu * f, guint ms)
{
  return wait_flag (f, &f->update_replied, ms);
}

gboolean
osvdi_fake_qemu_update (OsvdiFakeQemu * f, gint x, gint y, gint w, gint h,
    guint stride, const guint8 * pixels)
{
  GDBusConnection *listener = listener_ref (f);
  GVariant *data, *ret;

  if (!listener)
    return FALSE;
  data = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, pixels,
      (gsize) stride * (h - 1) + (gsize) w * 4, 1);
  ret = g_dbus_connection_call_sync (listener, NULL,
      LISTENER_PATH, LISTENER_IFACE, "Update",
      g_variant_new ("(iiiiuu@ay)", x, y, w, h, stride,
          PIXMAN_X8R8G8B8, data), NULL, G_DBUS_CALL_FLAGS_NONE,
      5000, NULL, NULL);
  g_object_unref (listener);
  if (!ret)
    return FALSE;
  g_variant_unref (ret);
  return TRUE;
}

gboolean
osvdi_fake_qemu_scanout_dmabuf (OsvdiFakeQemu * f, gint dmabuf, guint width,
    guint height, guint stride)
{
  GUnixFDList *fds = g_unix_fd_list_new ();
  GVariant *ret;

  g_unix_fd_list_append (fds, dmabuf, NULL);
  ret = g_dbus_connection_call_with_unix_fd_list_sync (f->listener, NULL,
      LISTENER_PATH, LISTENER_IFACE, "ScanoutDMABUF",
      g_variant_new ("(huuuutb)", 0, width, height, stride,
          0x34325258 /* XR24 */ , (guint64) 0, TRUE), NULL,
      G_DBUS_CALL_FLAGS_NONE, 5000, fds, NULL, NULL, NULL);
  g_object_unref (fds);
  if (!ret)
    return FALSE;
  g_variant_unref (ret);
  return TRUE;
}

gboolean
osvdi_fake_qemu_send_malformed (OsvdiFakeQemu * f)
{
  guint8 px[4 * 4 * 4] = { 0 };
  GVariant *ret;
  gboolean ok = TRUE;

  /* A pixel format QEMU 7.2 never sends. */
  ret = g_dbus_connection_call_sync (f->listener, NULL, LISTENER_PATH,
      LISTENER_IFACE, "Scanout", g_variant_new ("(uuuu@ay)", 4, 4, 16,
          0x12345678, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, px,
              sizeof (px), 1)), NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
      NULL);
  ok = ok && ret;
  g_clear_pointer (&ret, g_variant_unref);
  /* A dmabuf handle with no fd passed. */
  ret = g_dbus_connection_call_sync (f->listener, NULL, LISTENER_PATH,
      LISTENER_IFACE, "ScanoutDMABUF", g_variant_new ("(huuuutb)", 0, 4, 4,
          16, 0x34325258, (guint64) 0, TRUE), NULL, G_DBUS_CALL_FLAGS_NONE,
      5000, NULL, NULL);
  ok = ok && ret;
  g_clear_pointer (&ret, g_variant_unref);
  return ok;
}

gboolean
osvdi_fake_qemu_wait_inputs (OsvdiFakeQemu * f, guint n, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;
  gboolean ok;

  g_mutex_lock (&f->lock);
  while (f->inputs < n && g_cond_wait_until (&f->cond, &f->lock, end));
  ok = f->inputs >= n;
  g_mutex_unlock (&f->lock);
  return ok;
}

void
osvdi_fake_qemu_free (OsvdiFakeQemu * f)
{
  g_main_loop_quit (f->loop);
  g_thread_join (f->thread);
  g_main_loop_unref (f->loop);
  g_main_context_unref (f->ctx);
  g_ptr_array_unref (f->old_listeners);
  if (f->map)
    munmap (f->map, f->map_size);
  if (f->memfd >= 0)
    close (f->memfd);
  g_dbus_node_info_unref (f->info);
  g_clear_pointer (&f->pixels, g_bytes_unref);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->cond);
  g_free (f);
}
