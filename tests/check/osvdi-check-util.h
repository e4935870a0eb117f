/* OSVDI - helpers shared by the gst-check suites
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <gst/check/gstcheck.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A loopback port nobody listens on (bound and released); with @keep, the
 * socket stays bound and listening and is returned in *keep instead. */
static inline gint
osvdi_test_free_port (int *keep)
{
  struct sockaddr_in addr = {.sin_family = AF_INET };
  socklen_t len = sizeof (addr);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gint port;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (fd >= 0);
  fail_unless (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &addr, &len) == 0);
  port = ntohs (addr.sin_port);
  if (keep) {
    fail_unless (listen (fd, 1) == 0);
    *keep = fd;
  } else {
    close (fd);
  }
  return port;
}

/* TRUE when something accepts TCP connections on loopback @port. */
static inline gboolean
osvdi_test_port_accepts (gint port)
{
  struct sockaddr_in addr = {.sin_family = AF_INET };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gboolean ok;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = htons (port);
  ok = connect (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0;
  close (fd);
  return ok;
}
