/* OSVDI launcher - the Placement provider config for nova-compute
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "launcherconfig.h"

G_BEGIN_DECLS

/* launcher.conf [placement]. */
typedef struct
{
  gchar *resource_class;        /* CUSTOM_..., what flavors ask for */
  guint sessions_per_va_gpu;
  guint sessions_per_nvenc_gpu;
  gdouble sessions_per_core;    /* software (x264enc) */
  gint total;                   /* -1: computed from the host */
  guint reserved;
  gchar *provider_config;       /* written at start when set, else NULL */
} OsvdiPlacementConfig;

#define OSVDI_PLACEMENT_DEFAULT_RESOURCE_CLASS "CUSTOM_OSVDI_ENCODER_SESSION"

/* Reads the [placement] group of launcher.conf (a missing file gives the
 * defaults only when @allow_missing); errors name the file and key. */
OsvdiPlacementConfig *osvdi_placement_config_load (const gchar * path,
    gboolean allow_missing, GError ** error);
void osvdi_placement_config_free (OsvdiPlacementConfig * pcfg);

/* Placement's rule for custom resource classes: ^CUSTOM_[A-Z0-9_]+$, at
 * most 255 characters. */
gboolean osvdi_placement_resource_class_ok (const gchar * name);

typedef struct
{
  guint total;
  guint reserved;
  gchar *summary;               /* one line, for --check-config */
  gchar *yaml;                  /* the whole provider config file */
} OsvdiProviderConfig;

/* Counts the encoder sessions this host can carry from the encoders the
 * flavor files use and that are present here (GStreamer element and
 * device), and renders nova-compute's provider config. Needs gst_init.
 * Fails only when the flavors directory cannot be read. */
OsvdiProviderConfig *osvdi_provider_config_compute (const OsvdiLauncherConfig
    * cfg, const OsvdiPlacementConfig * pcfg, GError ** error);
void osvdi_provider_config_free (OsvdiProviderConfig * pc);

/* Writes @pc to @path atomically (a temporary file renamed over it), mode
 * 0644 so that nova-compute can read it. */
gboolean osvdi_provider_config_write (const OsvdiProviderConfig * pc,
    const gchar * path, GError ** error);

G_END_DECLS
