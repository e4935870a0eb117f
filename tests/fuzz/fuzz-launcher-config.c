/* OSVDI fuzz target: launcher.conf (launcher/launcherconfig.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Checked: a configuration that loads keeps every promise the launcher
 * relies on without checking again (ports in range and ordered, TLS only
 * with a certificate directory and apart from the plain ports, console=proxy
 * never on every address and without tickets, every string set); one that
 * does not load says why, naming the file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "fuzz-file.h"
#include "launcherconfig.h"

static void
check (const OsvdiLauncherConfig * cfg)
{
  gchar *line;

  FUZZ_CHECK (cfg->uri && *cfg->uri);
  FUZZ_CHECK (cfg->flavors_dir && *cfg->flavors_dir);
  FUZZ_CHECK (cfg->state_dir && *cfg->state_dir);
  FUZZ_CHECK (cfg->address && *cfg->address);
  FUZZ_CHECK (cfg->public_host && *cfg->public_host);
  FUZZ_CHECK (!cfg->runner || *cfg->runner);
  FUZZ_CHECK (!cfg->x509_dir || *cfg->x509_dir);
  FUZZ_CHECK (cfg->console == OSVDI_CONSOLE_DIRECT
      || cfg->console == OSVDI_CONSOLE_PROXY);
  FUZZ_CHECK (1 <= cfg->port_min && cfg->port_min <= cfg->port_max
      && cfg->port_max <= 65535);
  if (cfg->tls_port_min || cfg->tls_port_max) {
    FUZZ_CHECK (1 <= cfg->tls_port_min && cfg->tls_port_min
        <= cfg->tls_port_max && cfg->tls_port_max <= 65535);
    FUZZ_CHECK (cfg->x509_dir);
    FUZZ_CHECK (cfg->tls_port_max < cfg->port_min
        || cfg->tls_port_min > cfg->port_max);
  }
  if (cfg->console == OSVDI_CONSOLE_PROXY) {
    FUZZ_CHECK (cfg->ticket_lifetime == 0);
    FUZZ_CHECK (!g_str_equal (cfg->address, "*"));
    FUZZ_CHECK (!g_str_equal (cfg->address, "0.0.0.0"));
    FUZZ_CHECK (!g_str_equal (cfg->address, "::"));
  }
  FUZZ_CHECK (cfg->ticket_lifetime <= G_MAXINT);
  FUZZ_CHECK (cfg->backoff_initial_ms >= 1
      && cfg->backoff_initial_ms <= 3600000);
  FUZZ_CHECK (cfg->backoff_max_ms >= 1 && cfg->backoff_max_ms <= 3600000);
  FUZZ_CHECK (cfg->max_restarts <= 1000);
  FUZZ_CHECK (cfg->stable_seconds >= 1 && cfg->stable_seconds <= 86400);
  FUZZ_CHECK (cfg->stop_timeout_ms >= 1 && cfg->stop_timeout_ms <= 600000);
  FUZZ_CHECK (g_str_equal (osvdi_console_mode_name (cfg->console),
          cfg->console == OSVDI_CONSOLE_PROXY ? "proxy" : "direct"));
  line = osvdi_launcher_config_describe_console (cfg);
  FUZZ_CHECK (line && strstr (line, cfg->address));
  g_free (line);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  const gchar *path = fuzz_file (data, size);
  GError *error = NULL;
  OsvdiLauncherConfig *cfg;

  cfg = osvdi_launcher_config_load (path, FALSE, &error);
  if (cfg) {
    FUZZ_CHECK (error == NULL);
    check (cfg);
    osvdi_launcher_config_free (cfg);
  } else {
    FUZZ_CHECK (error && error->message);
    FUZZ_CHECK (g_str_has_prefix (error->message, path));
    g_error_free (error);
  }
  return 0;
}
