/* OSVDI - inside the micro-VM: a guest display served by our pipeline
 * SPDX-License-Identifier: Apache-2.0
 *
 *   guest-spice SECONDS
 *
 * Plays the guest on an mbochs mdev (1024x768, four coloured quadrants),
 * then runs `vfiodmabufsrc device-fd=... ! videoconvert ! x264enc ! h264parse
 * ! spicesink address=0.0.0.0 port=5900` for SECONDS, for a real SPICE
 * client outside the VM (QEMU's user-network port forward) to look at.
 */
#include <gst/gst.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-guest.h"

#define UUID "7d0d4b9e-1b4a-4a3b-9a33-000000000001"

static const guint32 quadrant[4] = { 0xff0000, 0x00ff00, 0x0000ff, 0xffffff };

int
main (int argc, char **argv)
{
  struct vfio_region_info info = {.argsz = sizeof (info),.index = 0 };
  GError *error = NULL;
  OsvdiVfioDevice *dev;
  guint32 *vram;
  GstElement *p;
  gchar *desc;
  guint x, y;
  gint fd, seconds = argc > 1 ? atoi (argv[1]) : 60;
  GstMessage *msg;

  gst_init (&argc, &argv);
  if (!osvdi_mdev_create ("/sys", "mbochs", "mbochs-small", UUID, &error)
      || !(dev = osvdi_vfio_open_mdev ("/sys", UUID, &error)))
    g_error ("%s", error->message);
  fd = osvdi_vfio_device_fd (dev);
  if (!osvdi_guest_set_mode (fd, 1024, 768))
    g_error ("cannot set the guest's mode");
  if (ioctl (fd, VFIO_DEVICE_GET_REGION_INFO, &info) < 0)
    g_error ("BAR0");
  vram = mmap (NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
      info.offset);
  for (y = 0; y < 768; y++)
    for (x = 0; x < 1024; x++)
      vram[y * 1024 + x] = quadrant[(y >= 384) * 2 + (x >= 512)];

  desc = g_strdup_printf ("vfiodmabufsrc device-fd=%d "
      "! video/x-raw,framerate=5/1 ! videoconvert "
      "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
      "! h264parse ! spicesink address=0.0.0.0 port=5900 "
      "disable-ticketing=true", fd);
  p = gst_parse_launch (desc, &error);
  if (!p)
    g_error ("%s", error->message);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_print ("GUEST-SERVING\n");
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
      (GstClockTime) seconds * GST_SECOND, GST_MESSAGE_ERROR);
  if (msg) {
    gst_message_parse_error (msg, &error, NULL);
    g_printerr ("pipeline error: %s\n", error->message);
    return 1;
  }
  gst_element_set_state (p, GST_STATE_NULL);
  return 0;
}
