/* OSVDI fuzz target: flavor files (launcher/launcherconfig.c,
 * launcher/flavor.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * flavors.d/<flavor>.conf as an operator (or a mistake) writes it.
 * Checked: a pipeline that loads is stripped, not empty, passes the
 * template check and expands, with a real session's values, to a line with
 * no ${ left; the display-fd and missing-device answers agree with the
 * text; a file that does not load says why, naming the file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "fuzz-file.h"
#include "flavor.h"

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  const gchar *path = fuzz_file (data, size);
  GError *error = NULL;
  gchar *pipeline, *line;
  OsvdiLauncherConfig cfg = {.address = (gchar *) "127.0.0.1",
    .ticket_lifetime = 300
  };
  OsvdiDomainInfo with = {.uuid = (gchar *) "c0ffee00-0000-4000-8000-000000000001",
    .name = (gchar *) "instance-00000001",
    .mdev_uuid = (gchar *) "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
    .dbus_display = TRUE,.flavor = (gchar *) "vdi.intel"
  }, without = {.uuid = with.uuid,.name = with.name };

  pipeline = osvdi_flavor_load (path, &error);
  if (!pipeline) {
    FUZZ_CHECK (error && g_str_has_prefix (error->message, path));
    g_error_free (error);
    return 0;
  }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (*pipeline && !g_ascii_isspace (pipeline[0])
      && !g_ascii_isspace (pipeline[strlen (pipeline) - 1]));
  FUZZ_CHECK (osvdi_template_check (pipeline, NULL));

  FUZZ_CHECK (osvdi_flavor_wants_display_fd (pipeline)
      == (strstr (pipeline, "${QEMU_DISPLAY_FD}") != NULL));
  FUZZ_CHECK (osvdi_flavor_missing (pipeline, &with) == NULL);
  FUZZ_CHECK ((osvdi_flavor_missing (pipeline, &without) == NULL)
      == (!strstr (pipeline, "${MDEV_UUID}")
          && !strstr (pipeline, "${QEMU_DISPLAY_FD}")));

  line = osvdi_flavor_expand (pipeline, &cfg, &with, 5901, 0, &error);
  FUZZ_CHECK (line && !error);
  FUZZ_CHECK (!strstr (line, "${"));
  g_free (line);
  g_free (pipeline);
  return 0;
}
