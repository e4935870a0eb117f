/* OSVDI - playing the guest of an mbochs mdev, for the micro-VM programs
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

/* Bochs VBE "dispi" registers, 16-bit each at 0x500 + 2 * index of BAR2. */
enum
{ OSVDI_VBE_XRES = 1, OSVDI_VBE_YRES = 2, OSVDI_VBE_BPP = 3,
  OSVDI_VBE_ENABLE = 4, OSVDI_VBE_VIRT_WIDTH = 6
};

static inline gboolean
osvdi_guest_vbe (gint device_fd, guint reg, guint16 value)
{
  struct vfio_region_info info = {.argsz = sizeof (info),.index = 2 };

  return ioctl (device_fd, VFIO_DEVICE_GET_REGION_INFO, &info) == 0
      && pwrite (device_fd, &value, 2, info.offset + 0x500 + 2 * reg) == 2;
}

/* A 32-bit linear mode of @width x @height whose lines are @pitch pixels
 * apart (0: packed); 0 x 0 disables the display. */
static inline gboolean
osvdi_guest_set_mode_pitch (gint device_fd, guint width, guint height,
    guint pitch)
{
  if (!osvdi_guest_vbe (device_fd, OSVDI_VBE_ENABLE, 0))
    return FALSE;
  if (!width)
    return TRUE;
  return osvdi_guest_vbe (device_fd, OSVDI_VBE_VIRT_WIDTH, pitch)
      && osvdi_guest_vbe (device_fd, OSVDI_VBE_XRES, width)
      && osvdi_guest_vbe (device_fd, OSVDI_VBE_YRES, height)
      && osvdi_guest_vbe (device_fd, OSVDI_VBE_BPP, 32)
      && osvdi_guest_vbe (device_fd, OSVDI_VBE_ENABLE, 0x41);
}

static inline gboolean
osvdi_guest_set_mode (gint device_fd, guint width, guint height)
{
  return osvdi_guest_set_mode_pitch (device_fd, width, height, 0);
}
