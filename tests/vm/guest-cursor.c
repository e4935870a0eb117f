/* OSVDI - a hardware cursor in a test VM, as a desktop sets one
 * SPDX-License-Identifier: Apache-2.0
 *
 * Built static by guest-initramfs.sh and run in the guest (virtio-gpu):
 *
 *   guest-cursor X Y
 *
 * Becomes DRM master on /dev/dri/card0, gives the first CRTC a 64x64 ARGB
 * cursor (opaque 0xff20c040, hot spot 5,7, a transparent bottom-right
 * quarter) and moves it to X,Y; prints "OSVDI-CURSOR X Y" on stdout and
 * stays (the cursor goes when its DRM master does).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <drm.h>
#include <drm_mode.h>

#define SIZE 64
#define COLOR 0xff20c040u
#define HOT_X 5
#define HOT_Y 7

static int
die (const char *what)
{
  printf ("OSVDI-CURSOR-FAILED %s: %s\n", what, strerror (errno));
  fflush (stdout);
  return 1;
}

int
main (int argc, char **argv)
{
  struct drm_mode_card_res res = { 0 };
  struct drm_mode_create_dumb dumb = {.width = SIZE,.height = SIZE,.bpp = 32 };
  struct drm_mode_map_dumb map = { 0 };
  struct drm_mode_cursor2 cursor = { 0 };
  struct drm_mode_cursor move = { 0 };
  uint32_t crtcs[8];
  uint32_t *pixels;
  int fd, x, y, i;

  if (argc != 3)
    return 2;
  x = atoi (argv[1]);
  y = atoi (argv[2]);
  for (i = 0; i < 100 && (fd = open ("/dev/dri/card0", O_RDWR)) < 0; i++)
    usleep (100 * 1000);
  if (fd < 0)
    return die ("open /dev/dri/card0");
  if (ioctl (fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
    return die ("GETRESOURCES");
  if (res.count_crtcs == 0 || res.count_crtcs > 8)
    return die ("CRTC count");
  memset (&res, 0, sizeof res);
  res.crtc_id_ptr = (uintptr_t) crtcs;
  res.count_crtcs = 8;
  if (ioctl (fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
    return die ("GETRESOURCES");

  if (ioctl (fd, DRM_IOCTL_MODE_CREATE_DUMB, &dumb) < 0)
    return die ("CREATE_DUMB");
  map.handle = dumb.handle;
  if (ioctl (fd, DRM_IOCTL_MODE_MAP_DUMB, &map) < 0)
    return die ("MAP_DUMB");
  pixels = mmap (NULL, dumb.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
      map.offset);
  if (pixels == MAP_FAILED)
    return die ("mmap");
  for (i = 0; i < SIZE * SIZE; i++)
    pixels[i] = (i % SIZE >= SIZE / 2 && i / SIZE >= SIZE / 2) ? 0 : COLOR;
  munmap (pixels, dumb.size);

  cursor.flags = DRM_MODE_CURSOR_BO;
  cursor.crtc_id = crtcs[0];
  cursor.width = SIZE;
  cursor.height = SIZE;
  cursor.handle = dumb.handle;
  cursor.hot_x = HOT_X;
  cursor.hot_y = HOT_Y;
  if (ioctl (fd, DRM_IOCTL_MODE_CURSOR2, &cursor) < 0)
    return die ("CURSOR2");
  move.flags = DRM_MODE_CURSOR_MOVE;
  move.crtc_id = crtcs[0];
  move.x = x;
  move.y = y;
  if (ioctl (fd, DRM_IOCTL_MODE_CURSOR, &move) < 0)
    return die ("CURSOR move");
  printf ("OSVDI-CURSOR %d %d\n", x, y);
  fflush (stdout);
  for (;;)
    pause ();
}
