/* OSVDI - launcher units: domain XML, configuration, templates
 * SPDX-License-Identifier: Apache-2.0
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "domain.h"
#include "launcherconfig.h"

static const gchar *nova_xml =
    "<domain type='kvm'><name>instance-0000002a</name>"
    "<uuid>6b0f0d36-4f42-4a5e-9d0a-2f1f0f7a3c11</uuid>"
    "<metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>"
    "<nova:name>alice-desktop</nova:name><nova:flavor name='vdi.intel'>"
    "<nova:memory>4096</nova:memory></nova:flavor><nova:owner>"
    "<nova:user uuid='u-123'>alice</nova:user><nova:project uuid='p-456'>demo"
    "</nova:project></nova:owner></nova:instance></metadata><devices>"
    "<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='off'>"
    "<source><address uuid='11111111-1111-1111-1111-111111111111'/></source>"
    "</hostdev>"
    "<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on'>"
    "<source><address uuid='22222222-2222-2222-2222-222222222222'/></source>"
    "</hostdev></devices></domain>";

static void
test_domain_nova (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (OsvdiDomainInfo) info = osvdi_domain_info_parse (nova_xml,
      &error);

  g_assert_no_error (error);
  g_assert_cmpstr (info->uuid, ==, "6b0f0d36-4f42-4a5e-9d0a-2f1f0f7a3c11");
  g_assert_cmpstr (info->name, ==, "instance-0000002a");
  /* The mdev with a display, not the first one. */
  g_assert_cmpstr (info->mdev_uuid, ==,
      "22222222-2222-2222-2222-222222222222");
  g_assert_cmpstr (info->instance_name, ==, "alice-desktop");
  g_assert_cmpstr (info->flavor, ==, "vdi.intel");
  g_assert_cmpstr (info->owner_user, ==, "u-123");
  g_assert_cmpstr (info->owner_project, ==, "p-456");
}

static void
test_domain_plain_and_broken (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (OsvdiDomainInfo) info = osvdi_domain_info_parse
      ("<domain><name>a</name><uuid>u</uuid><devices>"
      "<hostdev mode='subsystem' type='pci'/></devices></domain>", &error);
  OsvdiDomainInfo *bad;

  g_assert_no_error (error);
  g_assert_null (info->mdev_uuid);
  g_assert_null (info->flavor);
  bad = osvdi_domain_info_parse ("<network/>", &error);
  g_assert_null (bad);
  g_assert_nonnull (error);
  g_clear_error (&error);
  bad = osvdi_domain_info_parse ("not xml <<<", &error);
  g_assert_null (bad);
  g_assert_nonnull (error);
}

static void
test_template (void)
{
  g_autoptr (GHashTable) vars = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  gchar *out;

  g_hash_table_insert (vars, "SPICE_PORT", "5901");
  g_hash_table_insert (vars, "DOMAIN_NAME", "instance-0000002a");
  out = osvdi_template_expand ("a name=${DOMAIN_NAME} ! b port=${SPICE_PORT}"
      " ${OWNER_USER}x", vars, &error);
  g_assert_no_error (error);
  /* Unset known variables expand to nothing. */
  g_assert_cmpstr (out, ==, "a name=instance-0000002a ! b port=5901 x");
  g_free (out);

  g_assert_false (osvdi_template_check ("a ${NOPE}", &error));
  g_assert_nonnull (strstr (error->message, "${NOPE}"));
  g_clear_error (&error);
  g_assert_false (osvdi_template_check ("a ${SPICE_PORT", &error));
  g_clear_error (&error);

  /* A hostile domain name cannot add elements or properties. */
  g_hash_table_insert (vars, "DOMAIN_NAME", "x ! filesink location=/etc/a");
  out = osvdi_template_expand ("a name=${DOMAIN_NAME}", vars, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "not allowed"));
}

static void
test_config (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("osvdi-conf-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "launcher.conf", NULL);
  g_autoptr (GError) error = NULL;
  OsvdiLauncherConfig *cfg;

  /* Missing and allowed: defaults, secure ones. */
  cfg = osvdi_launcher_config_load (path, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cfg->uri, ==, "qemu:///system");
  g_assert_cmpstr (cfg->address, ==, "127.0.0.1");
  g_assert_cmpint (cfg->port_min, ==, 5900);
  g_assert_cmpint (cfg->tls_port_min, ==, 0);
  osvdi_launcher_config_free (cfg);
  /* Missing and named on the command line: an error. */
  g_assert_null (osvdi_launcher_config_load (path, FALSE, &error));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, "[spice]\ntls-port-min=5950\n"
          "tls-port-max=5960\nx509-dir=/x\n", -1, NULL));
  g_assert_null (osvdi_launcher_config_load (path, FALSE, &error));
  g_assert_nonnull (strstr (error->message, "overlaps"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "[spice]\ntls-port-min=6900\n"
          "tls-port-max=6910\n", -1, NULL));
  g_assert_null (osvdi_launcher_config_load (path, FALSE, &error));
  g_assert_nonnull (strstr (error->message, "x509-dir"));
  g_clear_error (&error);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launcher/domain/nova", test_domain_nova);
  g_test_add_func ("/launcher/domain/plain-and-broken",
      test_domain_plain_and_broken);
  g_test_add_func ("/launcher/template", test_template);
  g_test_add_func ("/launcher/config", test_config);
  return g_test_run ();
}
