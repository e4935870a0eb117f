/* OSVDI - a SPICE client that types: connect, wait for the inputs channel,
 * type a line as key presses and releases, disconnect.
 * SPDX-License-Identifier: Apache-2.0
 *
 *   osvdi-spice-type [--host H] --port P [--password T] [--seconds S] TEXT
 *
 * TEXT: lower-case letters, digits, space, '-', '/', '.'; "\n" in it is
 * Return.  Exit 0 once everything was sent, 1 when no server answered or
 * its inputs channel did not open within S seconds (default 60).  Whether
 * the keys arrived is the caller's to check (the AIO test reads the guest's
 * serial log): this program only stands for a user at a SPICE client.
 */
#include <glib.h>
#include <string.h>

#include "osvdi-test-client.h"

static gboolean
type_text (OsvdiTestClient * client, const gchar * text)
{
  gchar bad = 0;

  if (osvdi_test_client_type (client, text, 30, &bad))
    return TRUE;
  g_printerr ("no key for '%c'\n", bad);
  return FALSE;
}

int
main (int argc, char **argv)
{
  gint port = 0, seconds = 60, rc = 1;
  gchar *password = NULL, *host = NULL;
  gchar **rest = NULL;
  GOptionEntry entries[] = {
    {"host", 0, 0, G_OPTION_ARG_STRING, &host, "SPICE host (127.0.0.1)",
        NULL},
    {"port", 0, 0, G_OPTION_ARG_INT, &port, "SPICE port", NULL},
    {"password", 0, 0, G_OPTION_ARG_STRING, &password, "ticket", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "give up after", NULL},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL,
        "TEXT"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("TEXT - type at a SPICE server");
  OsvdiTestClientConfig cfg = { 0 };
  GError *error = NULL;
  gint64 end;
  gchar *text;
  OsvdiTestClient *client;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !port || !rest
      || g_strv_length (rest) != 1)
    g_error ("usage: osvdi-spice-type [--host H] --port P [--password T] TEXT");
  g_option_context_free (ctx);
  text = g_strcompress (rest[0]);
  end = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  cfg.host = host;
  cfg.port = port;
  cfg.password = password;

  client = osvdi_test_client_open_until (&cfg, end);
  if (!client)
    g_print ("no SPICE server answered on %s port %d within %d s\n",
        host ? host : "127.0.0.1", port,
        seconds);
  else {
    if (!osvdi_test_client_wait_inputs (client, 20000))
      g_print ("the inputs channel did not open\n");
    else if (type_text (client, text)) {
      /* let the last release leave before the channel goes */
      osvdi_test_client_iterate (500);
      g_print ("typed %u keys\n", (guint) strlen (text));
      rc = 0;
    }
    osvdi_test_client_free (client);
  }
  g_free (text);
  g_strfreev (rest);
  g_free (password);
  g_free (host);
  return rc;
}
