/* OSVDI launcher - one line per event on stderr (the journal under systemd)
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Thread-safe: the libvirt worker logs too. Debug lines only with
 * G_MESSAGES_DEBUG=osvdi-launcher (or all). */
void osvdi_log (const gchar * level, const gchar * fmt, ...)
    G_GNUC_PRINTF (2, 3);
gboolean osvdi_log_debug_enabled (void);

#define LOG_DEBUG(...) G_STMT_START { \
    if (osvdi_log_debug_enabled ()) osvdi_log ("debug", __VA_ARGS__); \
  } G_STMT_END
#define LOG_INFO(...) osvdi_log ("info", __VA_ARGS__)
#define LOG_WARN(...) osvdi_log ("warning", __VA_ARGS__)
#define LOG_ERROR(...) osvdi_log ("error", __VA_ARGS__)

G_END_DECLS
