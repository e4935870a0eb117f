/* OSVDI launcher - the connection to libvirt
 * SPDX-License-Identifier: Apache-2.0
 *
 * Connects (keepalive on), follows domain lifecycle events, notices a lost
 * connection (close callback) and reconnects with a growing delay, and on
 * every connect lists the running domains for a reconcile. Every libvirt
 * call of the launcher is a job run here, in submission order; its result
 * comes back to the GLib main loop, in the same order as the events.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

G_BEGIN_DECLS

typedef struct _OsvdiLibvirtConn OsvdiLibvirtConn;

typedef struct
{
  gchar *uuid;
  gchar *xml;                   /* live XML */
} OsvdiRunningDomain;

/* Called on the main loop, in the order libvirt reported them. */
typedef struct
{
  /* Started or resumed, and running when its XML was read. */
  void (*domain_started) (const gchar * uuid, const gchar * xml,
      gpointer data);
  void (*domain_stopped) (const gchar * uuid, gboolean crashed,
      gpointer data);
  void (*domain_undefined) (const gchar * uuid, gpointer data);
  /* (Re)connected: every running domain (OsvdiRunningDomain). */
  void (*reconcile) (GPtrArray * running, gpointer data);
} OsvdiLibvirtConnEvents;

/* Runs on the executor thread with libvirt (@conn NULL while not
 * connected), where it may block as long as libvirtd does; must not touch
 * the launcher's state: it fills in @data. */
typedef void (*OsvdiLibvirtJobFunc) (virConnectPtr conn, gpointer data);
/* Then on the main loop, unless the connection was stopped meanwhile. */
typedef void (*OsvdiLibvirtJobDone) (gpointer data);

/* Sets up libvirt's event loop (before any connection). */
OsvdiLibvirtConn *osvdi_libvirt_conn_new (const gchar * uri,
    GError ** error);

/* Connects (and keeps reconnecting); events go to @events. */
void osvdi_libvirt_conn_start (OsvdiLibvirtConn * lc,
    const OsvdiLibvirtConnEvents * events, gpointer data);

/* @func (may be NULL: a barrier) runs after every job submitted before;
 * @done then runs on the main loop; @free always runs. */
void osvdi_libvirt_conn_submit (OsvdiLibvirtConn * lc,
    OsvdiLibvirtJobFunc func, OsvdiLibvirtJobDone done, gpointer data,
    GDestroyNotify free);

/* Reads the domain anew; reported as domain_started if it runs. */
void osvdi_libvirt_conn_refresh (OsvdiLibvirtConn * lc, const gchar * uuid);

/* No more events or results; deregisters and closes the connection, waiting
 * at most @timeout_ms for libvirt. FALSE when libvirt did not answer in time
 * (the connection is then abandoned, and @lc must not be freed). */
gboolean osvdi_libvirt_conn_stop (OsvdiLibvirtConn * lc, guint timeout_ms);
void osvdi_libvirt_conn_free (OsvdiLibvirtConn * lc);

void osvdi_running_domain_free (OsvdiRunningDomain * d);

G_END_DECLS
