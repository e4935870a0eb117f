/* OSVDI launcher - one session per VM: sets it up, carries out what its
 * state machine (session.h) decides: child processes, timers, ports
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "launcherconfig.h"
#include "libvirtconn.h"

G_BEGIN_DECLS

typedef struct _OsvdiSupervisor OsvdiSupervisor;

/* @all_gone runs (once) when osvdi_supervisor_stop_all's last session is
 * over. */
OsvdiSupervisor *osvdi_supervisor_new (const OsvdiLauncherConfig * cfg,
    OsvdiLibvirtConn * lc, GSourceFunc all_gone, gpointer data);
void osvdi_supervisor_free (OsvdiSupervisor * sup);

/* What libvirt reports (OsvdiLibvirtConnEvents, with the supervisor as
 * data). */
extern const OsvdiLibvirtConnEvents osvdi_supervisor_events;

/* Stops every pipeline; no new sessions from now on. */
void osvdi_supervisor_stop_all (OsvdiSupervisor * sup);

G_END_DECLS
