/* OSVDI - host/ against the kernel's real VFIO mdev display drivers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Runs inside the micro-VM (tests/vm/run.sh) with mbochs and mdpy loaded.
 * It plays the guest itself -- sets a VBE mode through mbochs' BAR2 and
 * draws a known pattern into VRAM through the BAR0 mapping -- and checks
 * that host/ sees exactly that through the display API: a dmabuf plane
 * (mbochs) and a region plane (mdpy). TAP output.
 */
#include <glib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "osvdi-mdev.h"
#include "osvdi-vfio.h"
#include "osvdi-drm-format.h"
#include "osvdi-guest.h"

#define MBOCHS_UUID "5d0d4b9e-1b4a-4a3b-9a33-000000000001"
#define MDPY_UUID "5d0d4b9e-1b4a-4a3b-9a33-000000000002"
#define BUSY_UUID "5d0d4b9e-1b4a-4a3b-9a33-000000000003"

static guint32
pattern (guint x, guint y)
{
  return 0xff000000u | ((x * 7 + y) & 0xff) << 16 | ((y * 3) & 0xff) << 8
      | ((x ^ y) & 0xff);
}

static gpointer
map_rw (gint fd, guint index, gsize * size)
{
  struct vfio_region_info info = {.argsz = sizeof (info),.index = index };
  gpointer p;

  g_assert_cmpint (ioctl (fd, VFIO_DEVICE_GET_REGION_INFO, &info), ==, 0);
  p = mmap (NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
      info.offset);
  g_assert_true (p != MAP_FAILED);
  *size = info.size;
  return p;
}

static void
draw (guint32 * vram, guint width, guint height, guint stride_px)
{
  guint x, y;

  for (y = 0; y < height; y++)
    for (x = 0; x < width; x++)
      vram[y * stride_px + x] = pattern (x, y);
}

static void
check_pixels (const guint8 * data, const OsvdiPlane * plane)
{
  guint x, y, bad = 0;

  for (y = 0; y < plane->height; y += 7)
    for (x = 0; x < plane->width; x += 5) {
      guint32 v;

      memcpy (&v, data + (gsize) y * plane->stride + x * 4, 4);
      if ((v & 0xffffff) != (pattern (x, y) & 0xffffff))
        bad++;
    }
  g_assert_cmpuint (bad, ==, 0);
}

static void
test_mbochs_dmabuf (void)
{
  GError *error = NULL;
  OsvdiVfioDevice *dev;
  OsvdiPlane plane;
  gsize vram_size;
  guint32 *vram;
  gint fd, dmabuf;
  gpointer map;
  gchar name[5];

  g_assert_true (osvdi_mdev_create ("/sys", "mbochs", "mbochs-small",
          MBOCHS_UUID, &error));
  g_assert_no_error (error);
  dev = osvdi_vfio_open_mdev ("/sys", MBOCHS_UUID, &error);
  g_assert_no_error (error);
  fd = osvdi_vfio_device_fd (dev);
  g_assert_cmpint (osvdi_vfio_probe_planes (dev, &error), ==,
      OSVDI_PLANE_DMABUF);

  /* Before the guest sets a mode: a zeroed plane, not an error. */
  g_assert_true (osvdi_vfio_query_primary (dev, OSVDI_PLANE_DMABUF, &plane,
          &error));
  g_assert_cmpuint (plane.drm_format, ==, 0);

  /* Play the guest: 1024x768x32, then a pattern into VRAM. */
  g_assert_true (osvdi_guest_set_mode (fd, 1024, 768));
  vram = map_rw (fd, 0, &vram_size);
  draw (vram, 1024, 768, 1024);

  g_assert_true (osvdi_vfio_query_primary (dev, OSVDI_PLANE_DMABUF, &plane,
          &error));
  g_assert_no_error (error);
  osvdi_drm_fourcc_to_string (plane.drm_format, name);
  g_assert_cmpstr (name, ==, "XR24");
  g_assert_cmpstr (osvdi_drm_format_lookup (plane.drm_format)->video_format,
      ==, "BGRx");
  g_assert_cmpuint (plane.width, ==, 1024);
  g_assert_cmpuint (plane.height, ==, 768);
  g_assert_cmpuint (plane.stride, ==, 4096);
  g_assert_cmpuint (plane.modifier, ==, 0);
  g_assert_cmpuint (plane.id, !=, 0);

  /* mbochs has no cursor plane: it answers the cursor type with a zeroed
   * plane, which is "no cursor", not an error. */
  {
    OsvdiPlane cursor = {.drm_format = 1 };

    g_assert_true (osvdi_vfio_query_cursor (dev, OSVDI_PLANE_DMABUF, &cursor,
            &error));
    g_assert_no_error (error);
    g_assert_cmpuint (cursor.drm_format, ==, 0);
    g_assert_cmpuint (cursor.width, ==, 0);
  }

  dmabuf = osvdi_vfio_dmabuf_fd (dev, plane.id, &error);
  g_assert_no_error (error);
  /* Cached: the same id gives the same fd. */
  g_assert_cmpint (osvdi_vfio_dmabuf_fd (dev, plane.id, NULL), ==, dmabuf);
  map = mmap (NULL, plane.size, PROT_READ, MAP_SHARED, dmabuf, 0);
  g_assert_true (map != MAP_FAILED);
  check_pixels (map, &plane);
  munmap (map, plane.size);

  /* A second process cannot open the group: busy, named as such. */
  g_assert_null (osvdi_vfio_open_mdev ("/sys", MBOCHS_UUID, &error));
  g_assert_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "another process such as QEMU"));
  g_clear_error (&error);

  /* Adopting the fd a parent holds works. */
  {
    OsvdiVfioDevice *adopted = osvdi_vfio_adopt_fd (fd, &error);
    OsvdiPlane again;

    g_assert_no_error (error);
    g_assert_true (osvdi_vfio_query_primary (adopted, OSVDI_PLANE_DMABUF,
            &again, &error));
    g_assert_cmpuint (again.id, ==, plane.id);
    osvdi_vfio_close (adopted);
  }

  munmap (vram, vram_size);
  osvdi_vfio_close (dev);
  g_assert_true (osvdi_mdev_remove ("/sys", MBOCHS_UUID, &error));
  g_assert_no_error (error);
}

static void
test_mdpy_region (void)
{
  GError *error = NULL;
  OsvdiVfioDevice *dev;
  OsvdiPlane plane;
  gsize vram_size, size;
  guint32 *vram;
  gpointer region;

  g_assert_true (osvdi_mdev_create ("/sys", "mdpy", "mdpy-xga", MDPY_UUID,
          &error));
  g_assert_no_error (error);
  dev = osvdi_vfio_open_mdev ("/sys", MDPY_UUID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (osvdi_vfio_probe_planes (dev, &error), ==,
      OSVDI_PLANE_REGION);
  g_assert_true (osvdi_vfio_query_primary (dev, OSVDI_PLANE_REGION, &plane,
          &error));
  g_assert_no_error (error);
  g_assert_cmpuint (plane.width, ==, 1024);
  g_assert_cmpuint (plane.height, ==, 768);
  /* mdpy answers any plane type with its primary: a region device has no
   * cursor plane as far as host/ is concerned. */
  {
    OsvdiPlane cursor = {.drm_format = 1 };

    g_assert_true (osvdi_vfio_query_cursor (dev, OSVDI_PLANE_REGION, &cursor,
            &error));
    g_assert_cmpuint (cursor.drm_format, ==, 0);
  }

  vram = map_rw (osvdi_vfio_device_fd (dev), 0, &vram_size);
  draw (vram, plane.width, plane.height, plane.stride / 4);
  region = osvdi_vfio_map_region (dev, plane.id, &size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (size, >=, (gsize) plane.stride * plane.height);
  /* Mapped once: the same pointer again. */
  g_assert_true (osvdi_vfio_map_region (dev, plane.id, &size, NULL) ==
      region);
  check_pixels (region, &plane);

  munmap (vram, vram_size);
  osvdi_vfio_close (dev);
  g_assert_true (osvdi_mdev_remove ("/sys", MDPY_UUID, &error));
}

static void
test_errors (void)
{
  GError *error = NULL;

  g_assert_null (osvdi_vfio_open_mdev ("/sys",
          "00000000-0000-0000-0000-00000000dead", &error));
  g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (osvdi_vfio_adopt_fd (0, &error));
  g_assert_error (error, OSVDI_VFIO_ERROR, OSVDI_VFIO_ERROR_FAILED);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!g_getenv ("OSVDI_IN_VM")) {
    g_print ("1..0 # SKIP runs inside the micro-VM (tests/vm/run.sh)\n");
    return 0;
  }
  g_test_add_func ("/vm/mbochs/dmabuf", test_mbochs_dmabuf);
  g_test_add_func ("/vm/mdpy/region", test_mdpy_region);
  g_test_add_func ("/vm/errors", test_errors);
  return g_test_run ();
}
