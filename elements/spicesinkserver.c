/* OSVDI - spicesink's SPICE server: its thread and its configuration
 * SPDX-License-Identifier: Apache-2.0
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spicesinkserver.h"
#include "spicecore.h"
#include "spiceclientmouse.h"
#include "spiceaudioclock.h"
#include "osvdinet.h"

#include <string.h>
#include <netdb.h>
#include <spice/protocol.h>

GST_DEBUG_CATEGORY_EXTERN (gst_spice_sink_debug);
#define GST_CAT_DEFAULT gst_spice_sink_debug

typedef struct
{
  SpiceCharDeviceInstance sin;
  OsvdiSpiceServer *srv;
} StreamPort;

struct _OsvdiSpiceServer
{
  GstObject *owner;
  OsvdiSpiceServerConfig config;
  OsvdiSpiceInput *input;
  OsvdiSpiceServerCallbacks callbacks;
  gpointer user_data;

  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;

  /* Start-up handshake: init_lock. */
  GMutex init_lock;
  GCond init_cond;
  gboolean init_done;
  GstResourceError init_error;
  gchar *init_error_text;
  gchar *init_error_detail;

  /* wakeup_lock; taken under the sink's lock, never the other way. */
  GMutex wakeup_lock;
  gboolean wakeup_pending;

  /* The server thread's alone. */
  SpiceServer *server;
  StreamPort stream_port;
  OsvdiAudioClock *audio_clock;
  GHashTable *client_connections;
};

void
osvdi_spice_server_config_clear (OsvdiSpiceServerConfig * cfg)
{
  g_free (cfg->address);
  g_free (cfg->x509_dir);
  if (cfg->password)
    memset (cfg->password, 0, strlen (cfg->password));
  g_free (cfg->password);
  memset (cfg, 0, sizeof (*cfg));
}

/* ------------------------------------------------------------------------ */
/* The stream device                                                        */

static int
port_write (SpiceCharDeviceInstance * sin, const uint8_t * buf, int len)
{
  OsvdiSpiceServer *srv = ((StreamPort *) sin)->srv;

  if (len > 0)
    srv->callbacks.port_write (buf, len, srv->user_data);
  return MAX (len, 0);
}

static int
port_read (SpiceCharDeviceInstance * sin, uint8_t * buf, int len)
{
  OsvdiSpiceServer *srv = ((StreamPort *) sin)->srv;

  if (len <= 0)
    return 0;
  return srv->callbacks.port_read (buf, len, srv->user_data);
}

static void
port_state (SpiceCharDeviceInstance * sin, int connected)
{
  GST_DEBUG_OBJECT (((StreamPort *) sin)->srv->owner, "port state %d",
      connected);
}

static void
port_event (SpiceCharDeviceInstance * sin, uint8_t event)
{
  GST_DEBUG_OBJECT (((StreamPort *) sin)->srv->owner, "port event %u", event);
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

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */

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
  OsvdiSpiceServer *srv = user_data;
  gpointer key = GINT_TO_POINTER (info->connection_id);
  const gchar *what = NULL;
  gchar *peer;

  /* A client is its main channel; the others come and go with it. */
  if (info->type != SPICE_CHANNEL_MAIN)
    return;

  if (event == SPICE_CHANNEL_EVENT_INITIALIZED
      && g_hash_table_add (srv->client_connections, key))
    what = "connected";
  else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED
      && g_hash_table_remove (srv->client_connections, key))
    what = "disconnected";
  if (!what)
    return;

  peer = format_peer (info);
  srv->callbacks.client_event (what, peer,
      (info->flags & SPICE_CHANNEL_EVENT_FLAG_TLS) != 0,
      g_hash_table_size (srv->client_connections), srv->user_data);
  g_free (peer);
}

/* ------------------------------------------------------------------------ */
/* The server thread                                                        */

static void
set_init_error (OsvdiSpiceServer * srv, GstResourceError code, gchar * text,
    gchar * detail)
{
  srv->init_error = code;
  srv->init_error_text = text;
  srv->init_error_detail = detail;
}

static gboolean
server_setup (OsvdiSpiceServer * srv)
{
  const OsvdiSpiceServerConfig *cfg = &srv->config;
  gchar *ca = NULL, *cert = NULL, *key = NULL;

  srv->server = spice_server_new ();
  spice_server_set_name (srv->server, "OSVDI");
  if (cfg->port > 0)
    spice_server_set_port (srv->server, cfg->port);
  spice_server_set_addr (srv->server, cfg->address, 0);
  if (cfg->tls_port > 0) {
    ca = g_build_filename (cfg->x509_dir, "ca-cert.pem", NULL);
    cert = g_build_filename (cfg->x509_dir, "server-cert.pem", NULL);
    key = g_build_filename (cfg->x509_dir, "server-key.pem", NULL);
    if (spice_server_set_tls (srv->server, cfg->tls_port, ca, cert, key,
            NULL, NULL, NULL) != 0)
      goto tls_failed;
  }
  if (cfg->disable_ticketing)
    spice_server_set_noauth (srv->server);
  else
    spice_server_set_ticket (srv->server, cfg->password,
        cfg->password_lifetime, 0, 0);

  if (spice_server_init (srv->server, osvdi_spice_core_get ()) != 0)
    goto init_failed;

  srv->stream_port.srv = srv;
  srv->stream_port.sin.base.sif = &port_interface.base;
  srv->stream_port.sin.subtype = "port";
  srv->stream_port.sin.portname = OSVDI_SPICE_STREAM_PORT_NAME;
  if (!osvdi_spice_input_attach (srv->input, srv->server,
          cfg->absolute_pointer)
      || spice_server_add_interface (srv->server,
          &srv->stream_port.sin.base))
    goto interface_failed;
  if (cfg->audio_clock) {
    srv->audio_clock = osvdi_audio_clock_new (srv->server);
    if (!srv->audio_clock)
      goto interface_failed;
  }
  spice_server_vm_start (srv->server);
  /* Before OPENED: the stream must not be a display yet, or the mouse mode
   * check sees two. */
  if (cfg->absolute_pointer)
    osvdi_spice_enable_client_mouse (srv->server);
  /* Without OPENED the stream channel exists but no message flows. */
  spice_server_port_event (&srv->stream_port.sin, SPICE_PORT_EVENT_OPENED);

  g_free (ca);
  g_free (cert);
  g_free (key);
  return TRUE;

  /* ERRORS */
tls_failed:
  {
    set_init_error (srv, GST_RESOURCE_ERROR_SETTINGS,
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
      set_init_error (srv, GST_RESOURCE_ERROR_BUSY,
          g_strdup_printf ("SPICE port %d or TLS port %d on %s is already "
              "in use.", cfg->port, cfg->tls_port, cfg->address),
          g_strdup ("bind: address already in use"));
    else
      set_init_error (srv, GST_RESOURCE_ERROR_OPEN_READ_WRITE,
          g_strdup_printf ("Could not start the SPICE server on %s port %d "
              "(TLS port %d).", cfg->address, cfg->port, cfg->tls_port),
          g_strdup ("spice_server_init failed: check the address and, "
              "with TLS, the certificate files (spice-server logs why)"));
    goto failed;
  }
interface_failed:
  {
    set_init_error (srv, GST_RESOURCE_ERROR_FAILED,
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
server_teardown (OsvdiSpiceServer * srv)
{
  if (!srv->server)
    return;
  g_clear_pointer (&srv->audio_clock, osvdi_audio_clock_free);
  if (srv->stream_port.sin.st) {
    spice_server_port_event (&srv->stream_port.sin, SPICE_PORT_EVENT_CLOSED);
    spice_server_remove_interface (&srv->stream_port.sin.base);
  }
  spice_server_destroy (srv->server);
  srv->server = NULL;
  osvdi_spice_input_detach (srv->input);
  memset (&srv->stream_port.sin, 0, sizeof (srv->stream_port.sin));
}

static gpointer
server_thread_func (gpointer data)
{
  OsvdiSpiceServer *srv = data;
  gboolean ok;

  g_main_context_push_thread_default (srv->context);
  osvdi_spice_core_bind_thread (on_channel_event, srv);

  ok = server_setup (srv);

  g_mutex_lock (&srv->init_lock);
  srv->init_done = TRUE;
  g_cond_signal (&srv->init_cond);
  g_mutex_unlock (&srv->init_lock);

  if (ok)
    g_main_loop_run (srv->loop);

  server_teardown (srv);
  osvdi_spice_core_unbind_thread ();
  g_main_context_pop_thread_default (srv->context);
  return NULL;
}

static void
server_free (OsvdiSpiceServer * srv)
{
  g_clear_pointer (&srv->loop, g_main_loop_unref);
  g_clear_pointer (&srv->context, g_main_context_unref);
  g_clear_pointer (&srv->client_connections, g_hash_table_unref);
  osvdi_spice_server_config_clear (&srv->config);
  g_free (srv->init_error_text);
  g_free (srv->init_error_detail);
  g_mutex_clear (&srv->init_lock);
  g_cond_clear (&srv->init_cond);
  g_mutex_clear (&srv->wakeup_lock);
  g_free (srv);
}

OsvdiSpiceServer *
osvdi_spice_server_start (GstObject * owner,
    const OsvdiSpiceServerConfig * cfg, OsvdiSpiceInput * input,
    const OsvdiSpiceServerCallbacks * callbacks, gpointer user_data,
    GError ** error, gchar ** debug)
{
  OsvdiSpiceServer *srv = g_new0 (OsvdiSpiceServer, 1);
  GError *thread_error = NULL;

  srv->owner = owner;
  srv->config = *cfg;
  srv->config.address = g_strdup (cfg->address);
  srv->config.x509_dir = g_strdup (cfg->x509_dir);
  srv->config.password = g_strdup (cfg->password);
  srv->input = input;
  srv->callbacks = *callbacks;
  srv->user_data = user_data;
  g_mutex_init (&srv->init_lock);
  g_cond_init (&srv->init_cond);
  g_mutex_init (&srv->wakeup_lock);
  srv->client_connections = g_hash_table_new (NULL, NULL);
  srv->context = g_main_context_new ();
  srv->loop = g_main_loop_new (srv->context, FALSE);

  srv->thread = g_thread_try_new ("spicesink", server_thread_func, srv,
      &thread_error);
  if (!srv->thread)
    goto no_thread;

  g_mutex_lock (&srv->init_lock);
  while (!srv->init_done)
    g_cond_wait (&srv->init_cond, &srv->init_lock);
  g_mutex_unlock (&srv->init_lock);

  if (srv->init_error_text)
    goto setup_failed;

  GST_INFO_OBJECT (owner, "SPICE server on %s port %d TLS port %d (%s)",
      cfg->address, cfg->port, cfg->tls_port,
      cfg->disable_ticketing ? "no ticket" : "ticket required");
  return srv;

  /* ERRORS */
no_thread:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
        "Could not start the SPICE server thread.");
    *debug = g_strdup (thread_error->message);
    g_clear_error (&thread_error);
    server_free (srv);
    return NULL;
  }
setup_failed:
  {
    g_thread_join (srv->thread);
    g_set_error_literal (error, GST_RESOURCE_ERROR, srv->init_error,
        srv->init_error_text);
    *debug = g_steal_pointer (&srv->init_error_detail);
    server_free (srv);
    return NULL;
  }
}

static gboolean
wakeup_dispatch (gpointer data)
{
  OsvdiSpiceServer *srv = data;

  g_mutex_lock (&srv->wakeup_lock);
  srv->wakeup_pending = FALSE;
  g_mutex_unlock (&srv->wakeup_lock);

  /* spice-server reads from the device on this call: the sink takes its
   * lock in port_read(), so no lock may be held here. */
  if (srv->server)
    spice_server_char_device_wakeup (&srv->stream_port.sin);
  return G_SOURCE_REMOVE;
}

void
osvdi_spice_server_wakeup (OsvdiSpiceServer * srv)
{
  GSource *source;

  g_mutex_lock (&srv->wakeup_lock);
  if (srv->wakeup_pending) {
    g_mutex_unlock (&srv->wakeup_lock);
    return;
  }
  srv->wakeup_pending = TRUE;
  g_mutex_unlock (&srv->wakeup_lock);

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, wakeup_dispatch, srv, NULL);
  g_source_attach (source, srv->context);
  g_source_unref (source);
}

typedef struct
{
  OsvdiSpiceServer *srv;
  gchar *password;
  guint lifetime;
} Ticket;

static void
ticket_free (gpointer data)
{
  Ticket *t = data;

  if (t->password)
    memset (t->password, 0, strlen (t->password));
  g_free (t->password);
  g_free (t);
}

static gboolean
ticket_dispatch (gpointer data)
{
  Ticket *t = data;

  if (t->srv->server && !t->srv->config.disable_ticketing) {
    GST_INFO_OBJECT (t->srv->owner, "updating the ticket");
    spice_server_set_ticket (t->srv->server, t->password, t->lifetime, 0, 0);
  }
  return G_SOURCE_REMOVE;
}

void
osvdi_spice_server_set_ticket (OsvdiSpiceServer * srv,
    const gchar * password, guint lifetime)
{
  Ticket *t;
  GSource *source;

  if (!password)
    return;
  t = g_new0 (Ticket, 1);
  t->srv = srv;
  t->password = g_strdup (password);
  t->lifetime = lifetime;
  source = g_idle_source_new ();
  g_source_set_callback (source, ticket_dispatch, t, ticket_free);
  g_source_attach (source, srv->context);
  g_source_unref (source);
}

static gboolean
quit_dispatch (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
osvdi_spice_server_stop (OsvdiSpiceServer * srv)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, quit_dispatch, g_main_loop_ref (srv->loop),
      (GDestroyNotify) g_main_loop_unref);
  g_source_attach (source, srv->context);
  g_source_unref (source);
  g_thread_join (srv->thread);
  server_free (srv);
}
