/* OSVDI tests - a stand-in for QEMU 7.2's D-Bus display (peer to peer)
 * SPDX-License-Identifier: Apache-2.0
 */
#include "osvdi-fake-qemu.h"

#include <errno.h>
#include <string.h>
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

struct _OsvdiFakeQemu
{
  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;
  gint server_end;
  GDBusConnection *display, *listener;
  GDBusNodeInfo *info;
  gint dmabuf;
  guint64 modifier;
  GBytes *pixels;               /* 2D mode's scanout */
  guint width, height, stride;
  GMutex lock;
  GCond cond;
  gboolean scanout_done, update_replied;
  guint inputs;                 /* input calls received (and refused) */
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
  f->listener = g_dbus_connection_new_sync (G_IO_STREAM (stream), guid,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER, NULL, NULL, &error);
  g_object_unref (stream);
  g_object_unref (sock);
  g_free (guid);
  /* The element may go while it registers (a test stopping it): QEMU
   * shrugs that off, so does the stand-in. */
  if (!f->listener) {
    g_debug ("fake QEMU: listener connection: %s", error->message);
    g_error_free (error);
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
  ret = g_dbus_connection_call_with_unix_fd_list_sync (f->listener, NULL,
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
  g_dbus_connection_close_sync (f->display, NULL, NULL);
  g_clear_object (&f->listener);
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

OsvdiFakeQemu *
osvdi_fake_qemu_new_modifier (guint width, guint height, guint stride,
    gint dmabuf, guint64 modifier, const guint8 * pixels, gint * element_fd)
{
  OsvdiFakeQemu *f = g_new0 (OsvdiFakeQemu, 1);
  gint sv[2];

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
  GVariant *data = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, pixels,
      (gsize) stride * (h - 1) + (gsize) w * 4, 1);
  GVariant *ret = g_dbus_connection_call_sync (f->listener, NULL,
      LISTENER_PATH, LISTENER_IFACE, "Update",
      g_variant_new ("(iiiiuu@ay)", x, y, w, h, stride,
          PIXMAN_X8R8G8B8, data), NULL, G_DBUS_CALL_FLAGS_NONE,
      5000, NULL, NULL);

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
  g_dbus_node_info_unref (f->info);
  g_clear_pointer (&f->pixels, g_bytes_unref);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->cond);
  g_free (f);
}
