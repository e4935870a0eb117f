/* OSVDI - vfiodmabufsrc's own work per frame, inside the micro-VM
 * SPDX-License-Identifier: Apache-2.0
 *
 *   valgrind --tool=callgrind --collect-atstart=no \
 *     --toggle-collect=gst_vfio_dmabuf_src_create \
 *     osvdi-bench-srccost --type mbochs-medium --width 1920 --height 1080
 *
 * Plays the guest on an mbochs mdev (a mode of the given size), then runs
 * `vfiodmabufsrc device-fd=... num-buffers=60 ! fakesink`: downstream takes
 * dmabufs, so the frames are wrapped, never copied. Only create() is
 * counted (plane query, caps, buffer wrapping; the clock wait costs no
 * instructions). Prints the frames as JSON.
 */
#include <gst/gst.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-guest.h"

#define UUID "8d0d4b9e-1b4a-4a3b-9a33-000000000001"

int
main (int argc, char **argv)
{
  gchar *type = NULL;
  gint width = 1280, height = 720, frames = 60;
  GOptionEntry entries[] = {
    {"type", 0, 0, G_OPTION_ARG_STRING, &type, "mbochs type", NULL},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, NULL, NULL},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, NULL, NULL},
    {"frames", 0, 0, G_OPTION_ARG_INT, &frames, NULL, NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- vfiodmabufsrc cost");
  GError *error = NULL;
  OsvdiVfioDevice *dev;
  GstElement *p;
  GstMessage *msg;
  gchar *desc;
  gint fd;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !type)
    g_error ("usage: osvdi-bench-srccost --type T --width W --height H");
  g_option_context_free (ctx);
  if (!osvdi_mdev_create ("/sys", "mbochs", type, UUID, &error)
      || !(dev = osvdi_vfio_open_mdev ("/sys", UUID, &error)))
    g_error ("%s", error->message);
  fd = osvdi_vfio_device_fd (dev);
  if (!osvdi_guest_set_mode (fd, width, height))
    g_error ("cannot set the guest's mode");

  desc = g_strdup_printf ("vfiodmabufsrc device-fd=%d num-buffers=%d "
      "! fakesink sync=false", fd, frames);
  p = gst_parse_launch (desc, &error);
  if (!p)
    g_error ("%s", error->message);
  gst_element_set_state (p, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gst_message_parse_error (msg, &error, NULL);
    g_error ("%s", error->message);
  }
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_print ("{\"bench\": \"srccost\", \"width\": %d, \"height\": %d, "
      "\"frames\": %d, ", width, height, frames);
  osvdi_vfio_close (dev);
  osvdi_mdev_remove ("/sys", UUID, NULL);
  g_free (desc);
  g_free (type);
  return 0;
}
