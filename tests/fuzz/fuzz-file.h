/* OSVDI - the fuzz input as a file, for parsers that read a path
 * SPDX-License-Identifier: Apache-2.0
 *
 * launcher.conf and flavor files are read by path (GKeyFile): the input
 * goes into one memfd, read back through /proc/self/fd, so no file is
 * written per run.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const gchar *
fuzz_file (const uint8_t * data, size_t size)
{
  static gint fd = -1;
  static gchar path[64];

  if (fd < 0) {
    fd = memfd_create ("osvdi-fuzz", MFD_CLOEXEC);
    if (fd < 0) {
      perror ("memfd_create");
      abort ();
    }
    g_snprintf (path, sizeof (path), "/proc/self/fd/%d", fd);
  }
  if (ftruncate (fd, 0) < 0 || pwrite (fd, data, size, 0) != (ssize_t) size) {
    perror ("fuzz input memfd");
    abort ();
  }
  return path;
}
