/* OSVDI launcher - one line per event on stderr (the journal under systemd)
 * SPDX-License-Identifier: Apache-2.0
 */
#include "log.h"

#include <string.h>

void
osvdi_log (const gchar * level, const gchar * fmt, ...)
{
  va_list ap;
  gchar *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* g_printerr writes the line in one call, under GLib's print lock. */
  g_printerr ("osvdi-launcher: %s: %s\n", level, msg);
  g_free (msg);
}

gboolean
osvdi_log_debug_enabled (void)
{
  static gsize once;
  static gboolean enabled;

  if (g_once_init_enter (&once)) {
    const gchar *d = g_getenv ("G_MESSAGES_DEBUG");

    enabled = d && (strstr (d, "osvdi-launcher") || strstr (d, "all"));
    g_once_init_leave (&once, 1);
  }
  return enabled;
}
