/* OSVDI - small network helpers shared by spicesink and the launcher
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdinet.h"

#include <errno.h>
#include <netdb.h>
#include <unistd.h>
#include <sys/socket.h>

gboolean
osvdi_tcp_port_in_use (const gchar * address, gint port)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,.ai_flags = AI_PASSIVE };
  struct addrinfo *res = NULL, *ai;
  gchar service[16];
  gboolean busy = FALSE;

  if (port <= 0)
    return FALSE;
  g_snprintf (service, sizeof (service), "%d", port);
  if (getaddrinfo (address, service, &hints, &res) != 0)
    return FALSE;
  for (ai = res; ai && !busy; ai = ai->ai_next) {
    int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
        ai->ai_protocol);
    int one = 1;

    if (fd < 0)
      continue;
    /* Like the real server: sockets in TIME_WAIT do not count. */
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
    if (bind (fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno == EADDRINUSE)
      busy = TRUE;
    close (fd);
  }
  freeaddrinfo (res);
  return busy;
}
