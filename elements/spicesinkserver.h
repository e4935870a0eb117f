/* OSVDI - spicesink's SPICE server: its thread and its configuration
 * SPDX-License-Identifier: Apache-2.0
 *
 * One spice-server on a thread of its own with its own GMainContext (the
 * core in spicecore.c runs spice-server's watches and timers there): the
 * listening address and ports, the ticket or no ticket, TLS, the input
 * interfaces (spicesinkinput.c), the stream device the sink writes frames
 * to, the audio clock, and the clients' channel events. spice-server is
 * only ever called on that thread; other threads schedule work there.
 */
#pragma once

#include <gst/gst.h>
#include <spice.h>
#include "spicesinkinput.h"

G_BEGIN_DECLS

#define OSVDI_SPICE_STREAM_PORT_NAME "org.spice-space.stream.0"

typedef struct
{
  gchar *address;
  gint port;                    /* 0: none */
  gint tls_port;                /* 0: none */
  gchar *x509_dir;              /* ca-cert.pem, server-cert.pem, server-key.pem */
  gchar *password;
  guint password_lifetime;      /* seconds, 0: forever */
  gboolean disable_ticketing;
  gboolean absolute_pointer;    /* the tablet and client mouse mode */
  gboolean audio_clock;
} OsvdiSpiceServerConfig;

void osvdi_spice_server_config_clear (OsvdiSpiceServerConfig * cfg);

/* All called on the server thread. */
typedef struct
{
  /* spice-server writes to the stream device (the client's messages). */
  void (*port_write) (const guint8 * buf, gsize len, gpointer user_data);
  /* spice-server reads from the stream device: fill @buf, return bytes. */
  gsize (*port_read) (guint8 * buf, gsize len, gpointer user_data);
  /* A client (its main channel) @what = "connected" or "disconnected". */
  void (*client_event) (const gchar * what, const gchar * peer,
      gboolean tls, guint clients, gpointer user_data);
} OsvdiSpiceServerCallbacks;

typedef struct _OsvdiSpiceServer OsvdiSpiceServer;

/* Starts the server thread and waits until the server listens, or fails
 * with a GST_RESOURCE_ERROR in @error (message for users; the detail for
 * logs goes to @debug). @cfg is copied; @input is attached on the server
 * thread and must outlive the server. */
OsvdiSpiceServer *osvdi_spice_server_start (GstObject * owner,
    const OsvdiSpiceServerConfig * cfg, OsvdiSpiceInput * input,
    const OsvdiSpiceServerCallbacks * callbacks, gpointer user_data,
    GError ** error, gchar ** debug);

/* Any thread: make spice-server read the stream device soon (from an idle
 * callback on the server thread, never re-entering spice-server). */
void osvdi_spice_server_wakeup (OsvdiSpiceServer * srv);

/* Any thread: a new ticket for clients that connect from now on. */
void osvdi_spice_server_set_ticket (OsvdiSpiceServer * srv,
    const gchar * password, guint lifetime);

/* Stops the thread (clients are disconnected) and frees @srv. Not on the
 * server thread. */
void osvdi_spice_server_stop (OsvdiSpiceServer * srv);

G_END_DECLS
