/* OSVDI launcher - launcher.conf, flavors.d/<flavor>.conf and templates
 * SPDX-License-Identifier: Apache-2.0
 */
#include "launcherconfig.h"

#include <arpa/inet.h>
#include <string.h>

const gchar *const osvdi_template_variables[] = {
  "MDEV_UUID", "DOMAIN_UUID", "DOMAIN_NAME", "INSTANCE_NAME", "FLAVOR",
  "OWNER_USER", "OWNER_PROJECT", "SPICE_ADDRESS", "SPICE_PORT",
  "SPICE_TLS_PORT", "SPICE_X509_DIR", "TICKET_LIFETIME", "QEMU_DISPLAY_FD",
  NULL
};

static gchar *
get_string (GKeyFile * kf, const gchar * group, const gchar * key,
    const gchar * def)
{
  gchar *v = g_key_file_get_string (kf, group, key, NULL);

  if (v)
    g_strstrip (v);
  if (!v || !*v) {
    g_free (v);
    return g_strdup (def);
  }
  return v;
}

static gboolean
get_uint (GKeyFile * kf, const gchar * path, const gchar * group,
    const gchar * key, guint min, guint max, guint def, guint * out,
    GError ** error)
{
  GError *e = NULL;
  gint64 v;

  if (!g_key_file_has_key (kf, group, key, NULL)) {
    *out = def;
    return TRUE;
  }
  v = g_key_file_get_int64 (kf, group, key, &e);
  if (e || v < min || v > max) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [%s] %s must be a number from %u to %u", path, group, key, min,
        max);
    g_clear_error (&e);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

/* console=proxy: no ticket, so the listen address is the only gate besides
 * the network. One management address, never every address (that would
 * put unticketed desktops on every network the host is on). Loopback is
 * allowed: a console proxy on the same host is a real deployment (and
 * what the tests use); only local processes reach it, as with Nova's own
 * SPICE consoles on server_listen=127.0.0.1. */
static gboolean
check_proxy (const OsvdiLauncherConfig * cfg, const gchar * path,
    GError ** error)
{
  guint8 a[16] = { 0 }, zero[16] = { 0 };
  gboolean any = g_str_equal (cfg->address, "*");

  /* 0.0.0.0, ::, and their other spellings. */
  if (inet_pton (AF_INET, cfg->address, a) == 1
      || inet_pton (AF_INET6, cfg->address, a) == 1)
    any = memcmp (a, zero, sizeof (a)) == 0;
  if (any) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] console=proxy needs address= set to one management "
        "address (the one the console proxy reaches), not \"%s\": sessions "
        "have no ticket in this mode, so every address would expose them",
        path, cfg->address);
    return FALSE;
  }
  if (cfg->ticket_lifetime) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] ticket-lifetime has no meaning with console=proxy "
        "(sessions have no ticket)", path);
    return FALSE;
  }
  return TRUE;
}

const gchar *
osvdi_console_mode_name (OsvdiConsoleMode mode)
{
  return mode == OSVDI_CONSOLE_PROXY ? "proxy" : "direct";
}

gchar *
osvdi_launcher_config_describe_console (const OsvdiLauncherConfig * cfg)
{
  if (cfg->console == OSVDI_CONSOLE_PROXY)
    return g_strdup_printf ("console=proxy: sessions on %s without tickets, "
        "the console proxy is the gate%s", cfg->address,
        cfg->tls_port_min ? " (TLS ports for it)" : "");
  return g_strdup_printf ("console=direct: sessions on %s, each with its own "
      "ticket (in its .vv file)", cfg->address);
}

OsvdiLauncherConfig *
osvdi_launcher_config_load (const gchar * path, gboolean allow_missing,
    GError ** error)
{
  GKeyFile *kf = g_key_file_new ();
  OsvdiLauncherConfig *cfg = g_new0 (OsvdiLauncherConfig, 1);
  GError *e = NULL;
  guint pmin, pmax, tmin, tmax;
  gchar *console = NULL;
  gchar *dir = g_path_get_dirname (path);

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &e)) {
    if (!(allow_missing && g_error_matches (e, G_FILE_ERROR,
                G_FILE_ERROR_NOENT))) {
      g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
      goto fail;
    }
    g_clear_error (&e);
  }

  cfg->uri = get_string (kf, "launcher", "connect", "qemu:///system");
  cfg->flavors_dir = get_string (kf, "launcher", "flavors-dir", NULL);
  if (!cfg->flavors_dir)
    cfg->flavors_dir = g_build_filename (dir, "flavors.d", NULL);
  cfg->state_dir = get_string (kf, "launcher", "state-dir", "/run/osvdi");
  cfg->runner = get_string (kf, "launcher", "runner", NULL);
  cfg->address = get_string (kf, "spice", "address", "127.0.0.1");
  console = get_string (kf, "spice", "console", "direct");
  if (g_str_equal (console, "direct")) {
    cfg->console = OSVDI_CONSOLE_DIRECT;
  } else if (g_str_equal (console, "proxy")) {
    cfg->console = OSVDI_CONSOLE_PROXY;
  } else {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] console must be direct or proxy, not \"%s\"", path,
        console);
    goto fail;
  }
  cfg->public_host = get_string (kf, "spice", "public-host", cfg->address);
  cfg->x509_dir = get_string (kf, "spice", "x509-dir", NULL);

  if (!get_uint (kf, path, "spice", "port-min", 1, 65535, 5900, &pmin, error)
      || !get_uint (kf, path, "spice", "port-max", 1, 65535, 5999, &pmax,
          error)
      || !get_uint (kf, path, "spice", "tls-port-min", 0, 65535, 0, &tmin,
          error)
      || !get_uint (kf, path, "spice", "tls-port-max", 0, 65535, 0, &tmax,
          error)
      || !get_uint (kf, path, "spice", "ticket-lifetime", 0, G_MAXINT, 0,
          &cfg->ticket_lifetime, error)
      || !get_uint (kf, path, "restart", "backoff-initial-ms", 1, 3600000,
          1000, &cfg->backoff_initial_ms, error)
      || !get_uint (kf, path, "restart", "backoff-max-ms", 1, 3600000, 60000,
          &cfg->backoff_max_ms, error)
      || !get_uint (kf, path, "restart", "max-restarts", 0, 1000, 5,
          &cfg->max_restarts, error)
      || !get_uint (kf, path, "restart", "stable-seconds", 1, 86400, 30,
          &cfg->stable_seconds, error)
      || !get_uint (kf, path, "restart", "stop-timeout-ms", 1, 600000, 5000,
          &cfg->stop_timeout_ms, error))
    goto fail;
  cfg->port_min = pmin;
  cfg->port_max = pmax;
  cfg->tls_port_min = tmin;
  cfg->tls_port_max = tmax;
  if (pmin > pmax) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] port-min %u is above port-max %u", path, pmin, pmax);
    goto fail;
  }
  if ((tmin || tmax) && (tmin == 0 || tmin > tmax || !cfg->x509_dir)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] TLS needs tls-port-min <= tls-port-max and x509-dir",
        path);
    goto fail;
  }
  if (tmin && !(tmax < (guint) cfg->port_min || tmin > (guint) cfg->port_max)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [spice] the TLS port range overlaps the port range", path);
    goto fail;
  }
  if (cfg->console == OSVDI_CONSOLE_PROXY && !check_proxy (cfg, path, error))
    goto fail;
  g_key_file_free (kf);
  g_free (console);
  g_free (dir);
  return cfg;

fail:
  g_clear_error (&e);
  g_free (console);
  g_key_file_free (kf);
  g_free (dir);
  osvdi_launcher_config_free (cfg);
  return NULL;
}

void
osvdi_launcher_config_free (OsvdiLauncherConfig * cfg)
{
  if (!cfg)
    return;
  g_free (cfg->uri);
  g_free (cfg->flavors_dir);
  g_free (cfg->state_dir);
  g_free (cfg->runner);
  g_free (cfg->address);
  g_free (cfg->public_host);
  g_free (cfg->x509_dir);
  g_free (cfg);
}

gchar *
osvdi_flavor_load (const gchar * path, GError ** error)
{
  GKeyFile *kf = g_key_file_new ();
  GError *e = NULL;
  gchar *pipeline = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &e)) {
    g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
    g_clear_error (&e);
    goto out;
  }
  pipeline = g_key_file_get_string (kf, "flavor", "pipeline", NULL);
  if (pipeline)
    g_strstrip (pipeline);
  if (!pipeline || !*pipeline) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
        "%s: no [flavor] pipeline=", path);
    g_clear_pointer (&pipeline, g_free);
    goto out;
  }
  if (!osvdi_template_check (pipeline, &e)) {
    g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
    g_clear_error (&e);
    g_clear_pointer (&pipeline, g_free);
  }
out:
  g_key_file_free (kf);
  return pipeline;
}

static gboolean
is_known (const gchar * name, gsize len)
{
  guint i;

  for (i = 0; osvdi_template_variables[i]; i++)
    if (strlen (osvdi_template_variables[i]) == len
        && strncmp (osvdi_template_variables[i], name, len) == 0)
      return TRUE;
  return FALSE;
}

/* Walks ${NAME} references; calls @func for literal runs and variables. */
static gboolean
walk (const gchar * tmpl, GString * out, GHashTable * vars, GError ** error)
{
  const gchar *p = tmpl;

  while (*p) {
    const gchar *start = strstr (p, "${"), *end;
    gchar *name;

    if (!start) {
      if (out)
        g_string_append (out, p);
      break;
    }
    if (out)
      g_string_append_len (out, p, start - p);
    end = strchr (start + 2, '}');
    if (!end) {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
          "unterminated \"${\" in the pipeline");
      return FALSE;
    }
    if (!is_known (start + 2, end - start - 2)) {
      name = g_strndup (start + 2, end - start - 2);
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
          "unknown variable ${%s} in the pipeline", name);
      g_free (name);
      return FALSE;
    }
    if (out) {
      const gchar *value;

      name = g_strndup (start + 2, end - start - 2);
      value = g_hash_table_lookup (vars, name);
      if (!value)
        value = "";
      if (strspn (value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "0123456789._-:/@+") != strlen (value)) {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
            "value of ${%s} (\"%s\") has characters not allowed in a "
            "pipeline", name, value);
        g_free (name);
        return FALSE;
      }
      g_string_append (out, value);
      g_free (name);
    }
    p = end + 1;
  }
  return TRUE;
}

gboolean
osvdi_template_check (const gchar * tmpl, GError ** error)
{
  return walk (tmpl, NULL, NULL, error);
}

gchar *
osvdi_template_expand (const gchar * tmpl, GHashTable * vars, GError ** error)
{
  GString *out = g_string_new (NULL);

  if (!walk (tmpl, out, vars, error)) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}
