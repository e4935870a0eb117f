/* OSVDI launcher - the Placement provider config for nova-compute
 * SPDX-License-Identifier: Apache-2.0
 *
 * nova-compute loads *.yaml from [compute] provider_config_location once, at
 * its start, and adds their inventories to its compute node's resource
 * provider. The file written here gives that provider an inventory of
 * encoder sessions (a CUSTOM_ resource class), so that a flavor with
 * resources:CUSTOM_OSVDI_ENCODER_SESSION=1 is placed only on hosts that can
 * encode one more desktop.
 *
 * The count: for every encoder family that a flavor file uses, whose
 * GStreamer element is installed and whose device exists here, a figure per
 * device (VA-API: render nodes; NVENC: /dev/nvidiaN) or per core (x264enc),
 * summed over the families. Each family counts once, however many flavors
 * use it: the capacity belongs to the hardware, not to the flavors.
 */
#include "provider.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <gst/gst.h>

/* Starting points, not measurements of ours (no VA or NVENC board on the
 * machines this was written on); the reasons are in launcher.conf. The
 * software figure was measured: two 1080p30 x264enc sessions
 * (speed-preset=ultrafast tune=zerolatency) kept up on 2 cores. */
#define DEFAULT_SESSIONS_PER_VA_GPU 4
#define DEFAULT_SESSIONS_PER_NVENC_GPU 8
#define DEFAULT_SESSIONS_PER_CORE 1.0

typedef enum
{
  FAMILY_VA,
  FAMILY_NVENC,
  FAMILY_SOFTWARE,
  N_FAMILIES
} Family;

static const struct
{
  const gchar *factory;
  Family family;
} encoders[] = {
  {"vah264enc", FAMILY_VA},
  {"vah264lpenc", FAMILY_VA},
  {"vah265enc", FAMILY_VA},
  {"vah265lpenc", FAMILY_VA},
  {"vaav1enc", FAMILY_VA},
  {"nvh264enc", FAMILY_NVENC},
  {"nvh265enc", FAMILY_NVENC},
  {"nvav1enc", FAMILY_NVENC},
  {"nvcudah264enc", FAMILY_NVENC},
  {"nvcudah265enc", FAMILY_NVENC},
  {"nvautogpuh264enc", FAMILY_NVENC},
  {"nvautogpuh265enc", FAMILY_NVENC},
  /* The one software encoder with a measured figure. */
  {"x264enc", FAMILY_SOFTWARE},
};

typedef struct
{
  GPtrArray *factories;         /* used by a flavor, unique */
  GPtrArray *installed;         /* the subset GStreamer has */
  guint units;                  /* GPUs or cores */
  guint per_unit_x100;          /* sessions per unit, in hundredths */
  guint sessions;
  GString *why;                 /* how the figure came about */
} FamilyCount;

static const gchar *const family_names[N_FAMILIES] = {
  "VA-API", "NVENC", "software"
};

gboolean
osvdi_placement_resource_class_ok (const gchar * name)
{
  gsize len = name ? strlen (name) : 0;

  return len > strlen ("CUSTOM_") && len <= 255
      && g_str_has_prefix (name, "CUSTOM_")
      && strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
}

static gboolean
get_count (GKeyFile * kf, const gchar * path, const gchar * key, gint64 min,
    gint64 def, gint64 * out, GError ** error)
{
  GError *e = NULL;
  gint64 v;

  if (!g_key_file_has_key (kf, "placement", key, NULL)) {
    *out = def;
    return TRUE;
  }
  v = g_key_file_get_int64 (kf, "placement", key, &e);
  if (e || v < min || v > G_MAXINT32) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [placement] %s must be a whole number from %" G_GINT64_FORMAT
        " to %d", path, key, min, G_MAXINT32);
    g_clear_error (&e);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

OsvdiPlacementConfig *
osvdi_placement_config_load (const gchar * path, gboolean allow_missing,
    GError ** error)
{
  GKeyFile *kf = g_key_file_new ();
  OsvdiPlacementConfig *pcfg = g_new0 (OsvdiPlacementConfig, 1);
  GError *e = NULL;
  gint64 va, nv, total, reserved;
  gchar *s;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &e)) {
    if (!(allow_missing && g_error_matches (e, G_FILE_ERROR,
                G_FILE_ERROR_NOENT))) {
      g_set_error (error, e->domain, e->code, "%s: %s", path, e->message);
      g_clear_error (&e);
      goto fail;
    }
    g_clear_error (&e);
  }

  s = g_key_file_get_string (kf, "placement", "resource-class", NULL);
  if (s)
    g_strstrip (s);
  if (!s || !*s) {
    g_free (s);
    s = g_strdup (OSVDI_PLACEMENT_DEFAULT_RESOURCE_CLASS);
  }
  pcfg->resource_class = s;
  if (!osvdi_placement_resource_class_ok (s)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [placement] resource-class \"%s\" is not a custom resource "
        "class: Placement takes only CUSTOM_ followed by A-Z, 0-9 and _ "
        "(at most 255 characters)", path, s);
    goto fail;
  }

  if (!get_count (kf, path, "sessions-per-va-gpu", 0,
          DEFAULT_SESSIONS_PER_VA_GPU, &va, error)
      || !get_count (kf, path, "sessions-per-nvenc-gpu", 0,
          DEFAULT_SESSIONS_PER_NVENC_GPU, &nv, error)
      || !get_count (kf, path, "total", 0, -1, &total, error)
      || !get_count (kf, path, "reserved", 0, 0, &reserved, error))
    goto fail;
  pcfg->sessions_per_va_gpu = va;
  pcfg->sessions_per_nvenc_gpu = nv;
  pcfg->total = total;
  pcfg->reserved = reserved;

  pcfg->sessions_per_core = DEFAULT_SESSIONS_PER_CORE;
  if (g_key_file_has_key (kf, "placement", "sessions-per-core", NULL)) {
    gdouble v = g_key_file_get_double (kf, "placement", "sessions-per-core",
        &e);

    if (e || !isfinite (v) || v < 0 || v > 1000) {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
          "%s: [placement] sessions-per-core must be a number from 0 to "
          "1000 (fractions allowed, e.g. 0.5)", path);
      g_clear_error (&e);
      goto fail;
    }
    pcfg->sessions_per_core = v;
  }

  s = g_key_file_get_string (kf, "placement", "provider-config", NULL);
  if (s)
    g_strstrip (s);
  if (s && *s && !g_path_is_absolute (s)) {
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
        "%s: [placement] provider-config must be an absolute path", path);
    g_free (s);
    goto fail;
  }
  if (s && !*s)
    g_clear_pointer (&s, g_free);
  pcfg->provider_config = s;
  g_key_file_free (kf);
  return pcfg;

fail:
  g_key_file_free (kf);
  osvdi_placement_config_free (pcfg);
  return NULL;
}

void
osvdi_placement_config_free (OsvdiPlacementConfig * pcfg)
{
  if (!pcfg)
    return;
  g_free (pcfg->resource_class);
  g_free (pcfg->provider_config);
  g_free (pcfg);
}

/* Entries of @dir named @prefix followed by digits only (renderD128,
 * nvidia0; not nvidiactl or nvidia-uvm). Render nodes of NVIDIA's driver
 * are no VA-API encoder and are left out. */
static guint
count_devices (const gchar * dir, const gchar * prefix,
    gboolean skip_nvidia_drm, GString * seen)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;
  guint n = 0;
  gsize plen = strlen (prefix);

  if (!d)
    return 0;
  while ((name = g_dir_read_name (d))) {
    const gchar *num = name + plen;

    if (!g_str_has_prefix (name, prefix) || !*num
        || strspn (num, "0123456789") != strlen (num))
      continue;
    if (skip_nvidia_drm) {
      gchar *link = g_strdup_printf ("/sys/class/drm/%s/device/driver", name);
      gchar *target = g_file_read_link (link, NULL);
      gchar *driver = target ? g_path_get_basename (target) : NULL;
      gboolean skip = g_strcmp0 (driver, "nvidia") == 0;

      g_free (link);
      g_free (target);
      g_free (driver);
      if (skip) {
        g_string_append_printf (seen, "%s%s/%s (NVIDIA's, not counted)",
            seen->len ? ", " : "", dir, name);
        continue;
      }
    }
    g_string_append_printf (seen, "%s%s/%s", seen->len ? ", " : "", dir,
        name);
    n++;
  }
  g_dir_close (d);
  return n;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

static gboolean
has_string (GPtrArray * a, const gchar * s)
{
  guint i;

  for (i = 0; i < a->len; i++)
    if (strcmp (g_ptr_array_index (a, i), s) == 0)
      return TRUE;
  return FALSE;
}

/* The element names a pipeline template uses: every bare word between
 * '!'s and blanks; properties (key=value) and caps (with '/') are never
 * an encoder's name. */
static void
scan_flavor (const gchar * name, const gchar * tmpl, FamilyCount * fam,
    GString * comments)
{
  gchar **words = g_strsplit_set (tmpl, " \t\n!", -1);
  GString *found = g_string_new (NULL);
  guint i, k;

  for (i = 0; words[i]; i++) {
    const gchar *w = words[i];
    gboolean known = FALSE;

    if (!*w)
      continue;
    for (k = 0; k < G_N_ELEMENTS (encoders); k++) {
      if (strcmp (w, encoders[k].factory) != 0)
        continue;
      known = TRUE;
      if (!has_string (fam[encoders[k].family].factories, w))
        g_ptr_array_add (fam[encoders[k].family].factories, g_strdup (w));
      g_string_append_printf (found, "%s%s (%s)", found->len ? ", " : "",
          w, family_names[encoders[k].family]);
    }
    if (!known && g_str_has_suffix (w, "enc") && !strchr (w, '=')
        && !strchr (w, '/'))
      g_string_append_printf (found, "%s%s (no capacity figure for it: "
          "not counted)", found->len ? ", " : "", w);
  }
  g_string_append_printf (comments, "#   %s: %s\n", name,
      found->len ? found->str : "no encoder OSVDI counts");
  g_string_free (found, TRUE);
  g_strfreev (words);
}

static void
append_factories (GString * s, GPtrArray * a)
{
  guint i;

  for (i = 0; i < a->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "",
        (const gchar *) g_ptr_array_index (a, i));
}

/* Fills in units, sessions and why for one family that flavors use. */
static void
count_family (Family f, FamilyCount * fc, const OsvdiPlacementConfig * pcfg)
{
  GString *seen = g_string_new (NULL);
  const gchar *key = NULL;
  guint i;

  for (i = 0; i < fc->factories->len; i++) {
    const gchar *factory = g_ptr_array_index (fc->factories, i);
    GstElementFactory *ef = gst_element_factory_find (factory);

    if (ef) {
      g_ptr_array_add (fc->installed, g_strdup (factory));
      gst_object_unref (ef);
    }
  }

  switch (f) {
    case FAMILY_VA:
      fc->units = count_devices ("/dev/dri", "renderD", TRUE, seen);
      fc->per_unit_x100 = pcfg->sessions_per_va_gpu * 100;
      key = "sessions-per-va-gpu";
      break;
    case FAMILY_NVENC:
      fc->units = count_devices ("/dev", "nvidia", FALSE, seen);
      fc->per_unit_x100 = pcfg->sessions_per_nvenc_gpu * 100;
      key = "sessions-per-nvenc-gpu";
      break;
    case FAMILY_SOFTWARE:
      /* The CPUs this process may run on (affinity), not the machine's. */
      fc->units = g_get_num_processors ();
      fc->per_unit_x100 = (guint) (pcfg->sessions_per_core * 100 + 0.5);
      key = "sessions-per-core";
      break;
    default:
      g_assert_not_reached ();
  }

  if (!fc->installed->len) {
    fc->sessions = 0;
    g_string_append (fc->why, "0: GStreamer has no ");
    append_factories (fc->why, fc->factories);
    g_string_append (fc->why, " element on this host");
    if (f != FAMILY_SOFTWARE && !fc->units)
      g_string_append_printf (fc->why, ", and no %s device",
          f == FAMILY_VA ? "/dev/dri/renderD*" : "/dev/nvidia[0-9]*");
  } else if (!fc->units) {
    fc->sessions = 0;
    g_string_append_printf (fc->why, "0: ");
    append_factories (fc->why, fc->installed);
    g_string_append_printf (fc->why, " installed but no %s device on this "
        "host", f == FAMILY_VA ? "/dev/dri/renderD*" : "/dev/nvidia[0-9]*");
  } else {
    fc->sessions = (guint) (((guint64) fc->units * fc->per_unit_x100) / 100);
    g_string_append_printf (fc->why, "%u: %u %s x %g session%s per %s "
        "([placement] %s)", fc->sessions, fc->units,
        f == FAMILY_SOFTWARE ? (fc->units == 1 ? "core" : "cores")
        : (fc->units == 1 ? "GPU" : "GPUs"), fc->per_unit_x100 / 100.0,
        fc->per_unit_x100 == 100 ? "" : "s",
        f == FAMILY_SOFTWARE ? "core" : "GPU", key);
    if (seen->len)
      g_string_append_printf (fc->why, "; devices: %s", seen->str);
  }
  g_string_free (seen, TRUE);
}

OsvdiProviderConfig *
osvdi_provider_config_compute (const OsvdiLauncherConfig * cfg,
    const OsvdiPlacementConfig * pcfg, GError ** error)
{
  OsvdiProviderConfig *pc;
  FamilyCount fam[N_FAMILIES];
  GPtrArray *files;
  GString *flavors, *yaml, *summary;
  GError *e = NULL;
  GDir *dir;
  const gchar *name;
  guint i, computed = 0, total, reserved;

  dir = g_dir_open (cfg->flavors_dir, 0, &e);
  if (!dir && pcfg->total < 0) {
    g_set_error (error, e->domain, e->code, "%s", e->message);
    g_clear_error (&e);
    return NULL;
  }
  /* With [placement] total set, no flavor is needed to count. */
  g_clear_error (&e);
  files = g_ptr_array_new_with_free_func (g_free);
  while (dir && (name = g_dir_read_name (dir)))
    if (g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (files, g_strdup (name));
  if (dir)
    g_dir_close (dir);
  g_ptr_array_sort (files, compare_paths);

  for (i = 0; i < N_FAMILIES; i++) {
    fam[i].factories = g_ptr_array_new_with_free_func (g_free);
    fam[i].installed = g_ptr_array_new_with_free_func (g_free);
    fam[i].units = fam[i].per_unit_x100 = fam[i].sessions = 0;
    fam[i].why = g_string_new (NULL);
  }

  flavors = g_string_new (NULL);
  for (i = 0; i < files->len; i++) {
    const gchar *fname = g_ptr_array_index (files, i);
    gchar *path = g_build_filename (cfg->flavors_dir, fname, NULL);
    gchar *tmpl = osvdi_flavor_load (path, &e);

    if (tmpl)
      scan_flavor (fname, tmpl, fam, flavors);
    else {
      /* Its VMs get no pipeline, so it adds no capacity; --check-config
       * reports it as an error. */
      g_string_append_printf (flavors, "#   %s: not counted, it does not "
          "load (see --check-config)\n", fname);
      g_clear_error (&e);
    }
    g_free (tmpl);
    g_free (path);
  }
  if (!files->len)
    g_string_append_printf (flavors, "#   (no flavor files)\n");

  for (i = 0; i < N_FAMILIES; i++)
    if (fam[i].factories->len) {
      count_family (i, &fam[i], pcfg);
      computed += fam[i].sessions;
    }

  total = pcfg->total >= 0 ? (guint) pcfg->total : computed;
  reserved = MIN (pcfg->reserved, total);

  yaml = g_string_new (NULL);
  g_string_append_printf (yaml,
      "# Placement provider config for nova-compute, written by "
      "osvdi-launcher\n"
      "# --write-provider-config (launcher.conf [placement]). nova-compute "
      "loads\n"
      "# *.yaml from [compute] provider_config_location (default\n"
      "# /etc/nova/provider_config/) once, when it starts: write this file "
      "before\n"
      "# nova-compute starts, and restart nova-compute after rewriting it.\n"
      "# Flavors ask for one session with resources:%s=1.\n"
      "#\n"
      "# Flavor files in %s and their encoders:\n%s"
      "# Sessions per encoder family used by a flavor (each counts once):\n",
      pcfg->resource_class, cfg->flavors_dir, flavors->str);
  {
    gboolean any = FALSE;

    for (i = 0; i < N_FAMILIES; i++)
      if (fam[i].factories->len) {
        g_string_append_printf (yaml, "#   %s (", family_names[i]);
        append_factories (yaml, fam[i].factories);
        g_string_append_printf (yaml, "): %s\n", fam[i].why->str);
        any = TRUE;
      }
    if (!any)
      g_string_append (yaml, "#   none: no flavor uses an encoder OSVDI "
          "counts\n");
  }
  if (pcfg->total >= 0)
    g_string_append_printf (yaml, "# total: %u, forced by [placement] total "
        "(computed: %u)\n", total, computed);
  else
    g_string_append_printf (yaml, "# total: %u, the sum of the above\n",
        total);
  if (reserved != pcfg->reserved)
    g_string_append_printf (yaml, "# reserved: %u ([placement] reserved is "
        "%u, more than the total)\n", reserved, pcfg->reserved);
  else
    g_string_append_printf (yaml, "# reserved: %u ([placement] reserved)\n",
        reserved);
  g_string_append (yaml, "meta:\n  schema_version: '1.0'\n");
  if (total == 0) {
    /* Placement refuses an inventory with total 0; without one, a flavor
     * asking for the class is not placed here, which is the point. */
    g_string_append_printf (yaml, "# No %s inventory: this host cannot "
        "encode a desktop\n# (Placement takes no inventory with total 0).\n"
        "providers: []\n", pcfg->resource_class);
  } else {
    /* $COMPUTE_NODE is Nova's placeholder for the compute node's own
     * resource provider; Nova accepts it as the uuid only. */
    g_string_append_printf (yaml,
        "providers:\n"
        "  - identification:\n"
        "      uuid: '$COMPUTE_NODE'\n"
        "    inventories:\n"
        "      additional:\n"
        "        - %s:\n"
        "            total: %u\n"
        "            reserved: %u\n"
        "            min_unit: 1\n"
        "            max_unit: %u\n"
        "            step_size: 1\n"
        "            allocation_ratio: 1.0\n",
        pcfg->resource_class, total, reserved, total);
  }

  summary = g_string_new (NULL);
  g_string_append_printf (summary, "%s total %u, reserved %u",
      pcfg->resource_class, total, reserved);
  if (pcfg->total >= 0)
    g_string_append_printf (summary, " (forced by [placement] total; "
        "computed %u)", computed);
  else {
    gboolean any = FALSE;

    for (i = 0; i < N_FAMILIES; i++)
      if (fam[i].factories->len) {
        g_string_append_printf (summary, "%s%s %u", any ? ", " : " (",
            family_names[i], fam[i].sessions);
        any = TRUE;
      }
    g_string_append (summary, any ? ")" : " (no flavor uses an encoder "
        "OSVDI counts)");
  }

  pc = g_new0 (OsvdiProviderConfig, 1);
  pc->total = total;
  pc->reserved = reserved;
  pc->yaml = g_string_free (yaml, FALSE);
  pc->summary = g_string_free (summary, FALSE);

  for (i = 0; i < N_FAMILIES; i++) {
    g_ptr_array_unref (fam[i].factories);
    g_ptr_array_unref (fam[i].installed);
    g_string_free (fam[i].why, TRUE);
  }
  g_string_free (flavors, TRUE);
  g_ptr_array_unref (files);
  return pc;
}

void
osvdi_provider_config_free (OsvdiProviderConfig * pc)
{
  if (!pc)
    return;
  g_free (pc->summary);
  g_free (pc->yaml);
  g_free (pc);
}

gboolean
osvdi_provider_config_write (const OsvdiProviderConfig * pc,
    const gchar * path, GError ** error)
{
  GError *e = NULL;

  if (!g_file_set_contents_full (path, pc->yaml, -1,
          G_FILE_SET_CONTENTS_CONSISTENT, 0644, &e)) {
    g_set_error (error, e->domain, e->code, "%s", e->message);
    g_clear_error (&e);
    return FALSE;
  }
  return TRUE;
}
