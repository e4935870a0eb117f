/* OSVDI - host/: mdev discovery on fixture sysfs trees, DRM formats
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "osvdi-mdev.h"
#include "osvdi-drm-format.h"
#ifdef HAVE_LIBVIRT
#include "osvdi-libvirt.h"
#endif

#define UUID_A "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define UUID_B "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"

static void
put (const gchar * root, const gchar * rel, const gchar * text)
{
  gchar *path = g_build_filename (root, rel, NULL);
  gchar *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_free (dir);
  g_free (path);
}

static void
link_to (const gchar * root, const gchar * rel, const gchar * target)
{
  gchar *path = g_build_filename (root, rel, NULL);
  gchar *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (symlink (target, path), ==, 0);
  g_free (dir);
  g_free (path);
}

/* What Linux 6.1 shows with mbochs loaded and two mdevs, one of them
 * without an IOMMU group. */
static gchar *
make_sysfs (void)
{
  gchar *root = g_dir_make_tmp ("osvdi-sysfs-XXXXXX", NULL);

  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-small/name", "mbochs-small\n");
  link_to (root, "class/mdev_bus/mbochs", "../../devices/virtual/mbochs/mbochs");
  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-small/description", "virtual display, 4 MB video memory\n");
  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-small/available_instances", "3\n");
  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-small/device_api", "vfio-pci\n");
  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-small/create", "");
  put (root, "devices/virtual/mbochs/mbochs/mdev_supported_types/"
      "mbochs-large/available_instances", "0\n");

  put (root, "devices/virtual/mbochs/mbochs/" UUID_A "/remove", "");
  link_to (root, "bus/mdev/devices/" UUID_A,
      "../../../devices/virtual/mbochs/mbochs/" UUID_A);
  link_to (root, "devices/virtual/mbochs/mbochs/" UUID_A "/mdev_type",
      "../mdev_supported_types/mbochs-small");
  link_to (root, "devices/virtual/mbochs/mbochs/" UUID_A "/iommu_group",
      "../../../../kernel/iommu_groups/7");
  put (root, "devices/virtual/mbochs/mbochs/" UUID_B "/remove", "");
  link_to (root, "bus/mdev/devices/" UUID_B,
      "../../../devices/virtual/mbochs/mbochs/" UUID_B);
  link_to (root, "devices/virtual/mbochs/mbochs/" UUID_B "/mdev_type",
      "../mdev_supported_types/mbochs-large");
  return root;
}

static void
remove_tree (const gchar * root)
{
  gchar *cmd = g_strdup_printf ("rm -rf '%s'", root);

  g_assert_cmpint (system (cmd), ==, 0);
  g_free (cmd);
}

static void
test_parents_and_types (void)
{
  gchar *root = make_sysfs ();
  GPtrArray *parents = osvdi_mdev_list_parents (root, NULL);
  OsvdiMdevParent *p;
  OsvdiMdevType *t;

  g_assert_cmpuint (parents->len, ==, 1);
  p = g_ptr_array_index (parents, 0);
  g_assert_cmpstr (p->name, ==, "mbochs");
  g_assert_cmpuint (p->types->len, ==, 2);
  t = g_ptr_array_index (p->types, 0);  /* sorted */
  g_assert_cmpstr (t->id, ==, "mbochs-large");
  g_assert_cmpint (t->available_instances, ==, 0);
  g_assert_null (t->device_api);
  t = g_ptr_array_index (p->types, 1);
  g_assert_cmpstr (t->id, ==, "mbochs-small");
  g_assert_cmpstr (t->name, ==, "mbochs-small");
  g_assert_cmpstr (t->description, ==, "virtual display, 4 MB video memory");
  g_assert_cmpstr (t->device_api, ==, "vfio-pci");
  g_assert_cmpint (t->available_instances, ==, 3);
  g_ptr_array_unref (parents);

  /* A host without any mdev parent: an empty list. */
  parents = osvdi_mdev_list_parents ("/nonexistent-sysfs", NULL);
  g_assert_cmpuint (parents->len, ==, 0);
  g_ptr_array_unref (parents);
  remove_tree (root);
  g_free (root);
}

static void
test_devices (void)
{
  gchar *root = make_sysfs ();
  GPtrArray *list = osvdi_mdev_list (root, NULL);
  OsvdiMdev *m;
  GError *error = NULL;
  gchar *dev;

  g_assert_cmpuint (list->len, ==, 2);
  m = g_ptr_array_index (list, 0);
  g_assert_cmpstr (m->uuid, ==, UUID_A);
  g_assert_cmpstr (m->parent, ==, "mbochs");
  g_assert_cmpstr (m->type_id, ==, "mbochs-small");
  g_assert_cmpint (m->iommu_group, ==, 7);
  dev = osvdi_mdev_group_device (m, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (dev, ==, "/dev/vfio/7");
  g_free (dev);

  m = g_ptr_array_index (list, 1);
  g_assert_cmpint (m->iommu_group, ==, -1);
  g_assert_null (osvdi_mdev_group_device (m, &error));
  g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NO_GROUP);
  g_assert_nonnull (strstr (error->message, UUID_B));
  g_clear_error (&error);
  g_ptr_array_unref (list);

  /* An upper-case UUID names the same device (sysfs uses lower case). */
  m = osvdi_mdev_lookup (root, "83B8F4F2-509F-382F-3C1E-E6BFE0FA1001", NULL);
  g_assert_nonnull (m);
  g_assert_cmpstr (m->uuid, ==, UUID_A);
  osvdi_mdev_free (m);
  remove_tree (root);
  g_free (root);
}

static void
test_errors (void)
{
  gchar *root = make_sysfs ();
  GError *error = NULL;

  g_assert_null (osvdi_mdev_lookup (root,
          "00000000-0000-0000-0000-000000000000", &error));
  g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message,
          "no mediated device 00000000-0000-0000-0000-000000000000"));
  g_clear_error (&error);
  g_assert_null (osvdi_mdev_lookup (root, "not-a-uuid", &error));
  g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (osvdi_mdev_create (root, "mbochs", "nope", UUID_B,
          &error));
  g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no mdev type nope"));
  g_clear_error (&error);
  remove_tree (root);
  g_free (root);
}

static void
test_create_remove (void)
{
  gchar *root = make_sysfs ();
  GError *error = NULL;
  gchar *text = NULL, *path;

  /* The fixture's attributes are plain files: what was written shows. */
  g_assert_true (osvdi_mdev_create (root, "mbochs", "mbochs-small", UUID_B,
          &error));
  g_assert_no_error (error);
  path = g_build_filename (root, "class/mdev_bus/mbochs/mdev_supported_types/"
      "mbochs-small/create", NULL);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, UUID_B);
  g_free (text);
  g_free (path);

  g_assert_true (osvdi_mdev_remove (root, UUID_A, &error));
  path = g_build_filename (root, "bus/mdev/devices/" UUID_A "/remove", NULL);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "1");
  g_free (text);
  g_free (path);

  /* The kernel's refusal (here: a read-only attribute) comes back. */
  path = g_build_filename (root, "devices/virtual/mbochs/mbochs/" UUID_B
      "/remove", NULL);
  g_assert_cmpint (g_chmod (path, 0444), ==, 0);
  if (geteuid () != 0) {
    g_assert_false (osvdi_mdev_remove (root, UUID_B, &error));
    g_assert_error (error, OSVDI_MDEV_ERROR, OSVDI_MDEV_ERROR_FAILED);
    g_clear_error (&error);
  }
  g_free (path);
  remove_tree (root);
  g_free (root);
}

static void
test_drm_formats (void)
{
  const OsvdiDrmFormat *f;
  GError *error = NULL;
  gchar name[5];

  /* XR24, AR24, XB24, AB24, RG16 */
  f = osvdi_drm_format_lookup (0x34325258);
  g_assert_cmpstr (f->video_format, ==, "BGRx");
  g_assert_cmpuint (f->bytes_per_pixel, ==, 4);
  g_assert_cmpstr (osvdi_drm_format_lookup (0x34325241)->video_format, ==,
      "BGRA");
  g_assert_cmpstr (osvdi_drm_format_lookup (0x34324258)->video_format, ==,
      "RGBx");
  g_assert_cmpstr (osvdi_drm_format_lookup (0x34324241)->video_format, ==,
      "RGBA");
  f = osvdi_drm_format_lookup (0x36314752);
  g_assert_cmpstr (f->video_format, ==, "RGB16");
  g_assert_cmpuint (f->bytes_per_pixel, ==, 2);

  osvdi_drm_fourcc_to_string (0x34325258, name);
  g_assert_cmpstr (name, ==, "XR24");
  /* NV12 is not a plane format OSVDI carries: the error names it. */
  g_assert_null (osvdi_drm_format_get (0x3231564e, &error));
  g_assert_error (error, OSVDI_DRM_FORMAT_ERROR, 0);
  g_assert_nonnull (strstr (error->message, "NV12"));
  g_clear_error (&error);
}

#ifdef HAVE_LIBVIRT
/* Which <graphics> virDomainOpenGraphicsFD must be asked for. */
static void
test_dbus_display_index (void)
{
  g_assert_cmpint (osvdi_libvirt_dbus_display_index ("<domain><devices>"
          "<graphics type='dbus' p2p='yes'/></devices></domain>"), ==, 0);
  /* Counted among graphics only, after a VNC and a SPICE display. */
  g_assert_cmpint (osvdi_libvirt_dbus_display_index ("<domain><devices>"
          "<disk/><graphics type='vnc' port='-1'/><video/>"
          "<graphics type=\"spice\"/><graphics p2p=\"yes\" type=\"dbus\">"
          "<gl enable='no'/></graphics></devices></domain>"), ==, 2);
  /* A bus (not peer-to-peer) D-Bus display cannot be handed out. */
  g_assert_cmpint (osvdi_libvirt_dbus_display_index ("<domain><devices>"
          "<graphics type='dbus' address='unix:path=/x'/></devices></domain>"),
      ==, -1);
  g_assert_cmpint (osvdi_libvirt_dbus_display_index ("<domain><devices>"
          "<graphics type='vnc'/></devices></domain>"), ==, -1);
  g_assert_cmpint (osvdi_libvirt_dbus_display_index ("<domain><devi"), ==,
      -1);
  g_assert_cmpint (osvdi_libvirt_dbus_display_index (""), ==, -1);
  g_assert_cmpint (osvdi_libvirt_dbus_display_index (NULL), ==, -1);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/host/mdev/parents-and-types", test_parents_and_types);
  g_test_add_func ("/host/mdev/devices", test_devices);
  g_test_add_func ("/host/mdev/errors", test_errors);
  g_test_add_func ("/host/mdev/create-remove", test_create_remove);
  g_test_add_func ("/host/drm-formats", test_drm_formats);
#ifdef HAVE_LIBVIRT
  g_test_add_func ("/host/libvirt/dbus-display-index",
      test_dbus_display_index);
#endif
  return g_test_run ();
}
