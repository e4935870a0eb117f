/* OSVDI launcher - launcher.conf, flavors.d/<flavor>.conf and templates
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* [spice] console=: who gates a session. */
typedef enum
{
  OSVDI_CONSOLE_DIRECT,         /* clients connect with the session's ticket */
  OSVDI_CONSOLE_PROXY           /* a console proxy connects, no ticket */
} OsvdiConsoleMode;

typedef struct
{
  gchar *uri;                   /* libvirt URI */
  gchar *flavors_dir;
  gchar *state_dir;             /* .vv files */
  gchar *runner;                /* the pipeline runner binary */
  /* [spice] */
  OsvdiConsoleMode console;
  gchar *address;               /* listen address for the sessions */
  gchar *public_host;           /* what clients connect to (.vv, metadata) */
  gint port_min, port_max;
  gint tls_port_min, tls_port_max;      /* 0: no TLS */
  gchar *x509_dir;
  guint ticket_lifetime;        /* seconds, 0: none */
  /* [restart] */
  guint backoff_initial_ms;
  guint backoff_max_ms;
  guint max_restarts;           /* consecutive quick failures */
  guint stable_seconds;         /* a child that ran this long resets them */
  guint stop_timeout_ms;        /* EOS, then SIGKILL after this */
} OsvdiLauncherConfig;

/* Loads launcher.conf (a missing file gives the defaults only when
 * @allow_missing). Values are checked; errors name the file, group and key. */
OsvdiLauncherConfig *osvdi_launcher_config_load (const gchar * path,
    gboolean allow_missing, GError ** error);
void osvdi_launcher_config_free (OsvdiLauncherConfig * cfg);

/* "direct" or "proxy", as in launcher.conf. */
const gchar *osvdi_console_mode_name (OsvdiConsoleMode mode);
/* One line that says what the mode means for this configuration. */
gchar *osvdi_launcher_config_describe_console (const OsvdiLauncherConfig *
    cfg);

/* A flavor's pipeline template from flavors.d/<flavor>.conf. */
gchar *osvdi_flavor_load (const gchar * path, GError ** error);

/* The variables a template may use. */
extern const gchar *const osvdi_template_variables[];

/* Checks a template: every ${NAME} is known and well-formed. */
gboolean osvdi_template_check (const gchar * tmpl, GError ** error);

/* Expands ${NAME} from @vars (NAME -> value). Values must be plain tokens
 * (letters, digits, and . _ - : / @ +), so that a domain or flavor name
 * cannot inject pipeline syntax; anything else is an error. */
gchar *osvdi_template_expand (const gchar * tmpl, GHashTable * vars,
    GError ** error);

G_END_DECLS
