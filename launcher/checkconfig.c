/* OSVDI launcher - --check-config
 * SPDX-License-Identifier: Apache-2.0
 */
#include "checkconfig.h"

#include <string.h>
#include <gst/gst.h>

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}
/* spiceencbin's branches are gst-launch descriptions in its properties,
 * parsed only when it starts: parsed here too, each offered codec's, so
 * check-config names a broken branch (an error) or an encoder this host
 * lacks (@missing) as it does for the pipeline itself. FALSE on an error,
 * printed. */
static gboolean
check_encbin_branches (const gchar * path, GstElement * pipeline,
    GPtrArray * missing)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;
  gboolean ok = TRUE;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&item);
    GstElementFactory *f = gst_element_get_factory (e);
    gchar *codecs = NULL, **names;
    guint c;

    if (!f || g_strcmp0 (GST_OBJECT_NAME (f), "spiceencbin") != 0) {
      g_value_reset (&item);
      continue;
    }
    g_object_get (e, "codecs", &codecs, NULL);
    names = g_strsplit (codecs ? codecs : "", ",", -1);
    for (c = 0; names[c]; c++) {
      gchar *prop = g_strdup_printf ("%s-encoder", g_strstrip (names[c]));
      gchar *desc = NULL, **miss;
      GstParseContext *ctx;
      GstElement *branch;
      GError *error = NULL;
      guint m;

      if (!*names[c] || !g_object_class_find_property (G_OBJECT_GET_CLASS
              (e), prop)) {
        g_print ("%s: ERROR: spiceencbin codecs: unknown codec '%s'\n",
            path, names[c]);
        ok = FALSE;
        g_free (prop);
        continue;
      }
      g_object_get (e, prop, &desc, NULL);
      ctx = gst_parse_context_new ();
      branch = desc && *desc ? gst_parse_bin_from_description_full (desc,
          TRUE, ctx, GST_PARSE_FLAG_NONE, &error) : NULL;
      miss = gst_parse_context_get_missing_elements (ctx);
      if (!desc || !*desc) {
        g_print ("%s: ERROR: spiceencbin offers %s but %s is empty\n", path,
            names[c], prop);
        ok = FALSE;
      } else if (error && g_error_matches (error, GST_PARSE_ERROR,
              GST_PARSE_ERROR_NO_SUCH_ELEMENT)) {
        for (m = 0; miss && miss[m]; m++)
          g_ptr_array_add (missing, g_strdup_printf ("%s (spiceencbin "
                  "%s)", miss[m], prop));
      } else if (error) {
        g_print ("%s: ERROR: spiceencbin %s does not parse: %s\n", path, prop,
            error->message);
        ok = FALSE;
      }
      g_clear_error (&error);
      g_strfreev (miss);
      gst_parse_context_free (ctx);
      if (branch)
        gst_object_unref (branch);
      g_free (desc);
      g_free (prop);
    }
    g_strfreev (names);
    g_free (codecs);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return ok;
}


gint
osvdi_check_config (const OsvdiLauncherConfig * cfg,
    const OsvdiPlacementConfig * pcfg, const gchar * config_path)
{
  OsvdiProviderConfig *pc;
  GDir *dir;
  GError *error = NULL;
  const gchar *name;
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  gboolean bad = FALSE, have_default = FALSE;
  guint i;

  gchar *console = osvdi_launcher_config_describe_console (cfg);

  g_print ("%s: OK\n", config_path);
  g_print ("%s\n", console);
  g_free (console);
  dir = g_dir_open (cfg->flavors_dir, 0, &error);
  if (!dir) {
    g_print ("%s: ERROR: %s\n", cfg->flavors_dir, error->message);
    g_clear_error (&error);
    return 1;
  }
  while ((name = g_dir_read_name (dir)))
    if (g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (files, g_build_filename (cfg->flavors_dir, name,
              NULL));
  g_dir_close (dir);
  g_ptr_array_sort (files, compare_paths);

  for (i = 0; i < files->len; i++) {
    const gchar *path = g_ptr_array_index (files, i);
    gchar *tmpl = osvdi_flavor_load (path, &error), *pipeline;
    GHashTable *vars;
    GstParseContext *ctx;
    GstElement *e;
    gchar **missing;
    guint v;

    if (g_str_has_suffix (path, "/default.conf"))
      have_default = TRUE;
    if (!tmpl) {
      g_print ("%s: ERROR: %s\n", path, error->message);
      g_clear_error (&error);
      bad = TRUE;
      continue;
    }
    if (!strstr (tmpl, "${SPICE_PORT}") && !strstr (tmpl, "${SPICE_TLS_PORT}")) {
      g_print ("%s: ERROR: the pipeline uses neither ${SPICE_PORT} nor "
          "${SPICE_TLS_PORT}: every VM would get the same port\n", path);
      g_free (tmpl);
      bad = TRUE;
      continue;
    }
    /* Plausible values for every variable, then GStreamer's parser. */
    vars = g_hash_table_new (g_str_hash, g_str_equal);
    for (v = 0; osvdi_template_variables[v]; v++)
      g_hash_table_insert (vars, (gpointer) osvdi_template_variables[v],
          "00000000-0000-0000-0000-000000000000");
    g_hash_table_insert (vars, "SPICE_PORT", "5900");
    g_hash_table_insert (vars, "SPICE_TLS_PORT", "5901");
    g_hash_table_insert (vars, "TICKET_LIFETIME", "0");
    g_hash_table_insert (vars, "SPICE_ADDRESS", "127.0.0.1");
    g_hash_table_insert (vars, "SPICE_X509_DIR", "/etc/pki/osvdi");
    g_hash_table_insert (vars, "QEMU_DISPLAY_FD", "5");
    pipeline = osvdi_template_expand (tmpl, vars, &error);
    g_hash_table_unref (vars);
    g_free (tmpl);
    if (!pipeline) {
      g_print ("%s: ERROR: %s\n", path, error->message);
      g_clear_error (&error);
      bad = TRUE;
      continue;
    }
    ctx = gst_parse_context_new ();
    e = gst_parse_launch_full (pipeline, ctx, GST_PARSE_FLAG_NONE, &error);
    missing = gst_parse_context_get_missing_elements (ctx);
    if (error && g_error_matches (error, GST_PARSE_ERROR,
            GST_PARSE_ERROR_NO_SUCH_ELEMENT)) {
      gchar *list = g_strjoinv (", ", missing);

      /* Hardware encoders exist only on hosts with that GPU. */
      g_print ("%s: OK (not installed on this host: %s)\n", path,
          list && *list ? list : error->message);
      g_free (list);
    } else if (error) {
      g_print ("%s: ERROR: the pipeline does not parse: %s\n", path,
          error->message);
      bad = TRUE;
    } else {
      GPtrArray *lacking = g_ptr_array_new_with_free_func (g_free);

      if (!check_encbin_branches (path, e, lacking)) {
        bad = TRUE;
      } else if (lacking->len) {
        gchar *list;

        g_ptr_array_add (lacking, NULL);
        list = g_strjoinv (", ", (gchar **) lacking->pdata);
        g_print ("%s: OK (not installed on this host: %s)\n", path, list);
        g_free (list);
      } else {
        g_print ("%s: OK\n", path);
      }
      g_ptr_array_unref (lacking);
    }
    g_clear_error (&error);
    g_strfreev (missing);
    gst_parse_context_free (ctx);
    if (e)
      gst_object_unref (e);
    g_free (pipeline);
  }
  if (!have_default) {
    g_print ("%s: ERROR: no default.conf (used for VMs whose flavor has no "
        "file)\n", cfg->flavors_dir);
    bad = TRUE;
  }
  g_ptr_array_unref (files);
  pc = osvdi_provider_config_compute (cfg, pcfg, &error);
  if (pc) {
    g_print ("placement: %s%s%s\n", pc->summary, pcfg->provider_config ?
        "; written at start to " : "", pcfg->provider_config ?
        pcfg->provider_config : "");
    osvdi_provider_config_free (pc);
  } else {
    g_print ("placement: ERROR: %s\n", error->message);
    g_clear_error (&error);
    bad = TRUE;
  }
  return bad ? 1 : 0;
}
