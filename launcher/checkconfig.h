/* OSVDI launcher - --check-config
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "launcherconfig.h"
#include "provider.h"

G_BEGIN_DECLS

/* Checks every flavor file (template, variables, GStreamer's parser) and
 * prints one line per file, then one with the encoder sessions this host
 * offers Placement; returns the exit code (0: all good). Needs gst_init. */
gint osvdi_check_config (const OsvdiLauncherConfig * cfg,
    const OsvdiPlacementConfig * pcfg, const gchar * config_path);

G_END_DECLS
