/* OSVDI fuzz target: pipeline template expansion (launcher/launcherconfig.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * ${QEMU_DISPLAY_FD}-style substitution: the template from a flavor file,
 * the values from the VM (its name and flavor are the guest owner's
 * choice). Checked, without a second implementation: the check and the
 * expansion agree; an expanded line has no ${ left (values
 * not empty); each reference is
 * replaced by exactly its value (lengths with empty, one- and two-byte
 * values); a value outside the allowed characters fails the expansion
 * exactly when the template uses it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "launcherconfig.h"

static GHashTable *
vars_all (const gchar * value)
{
  GHashTable *vars = g_hash_table_new (g_str_hash, g_str_equal);
  guint i;

  for (i = 0; osvdi_template_variables[i]; i++)
    g_hash_table_insert (vars, (gpointer) osvdi_template_variables[i],
        (gpointer) value);
  return vars;
}

static gchar *
expand (const gchar * tmpl, GHashTable * vars)
{
  GError *error = NULL;
  gchar *out = osvdi_template_expand (tmpl, vars, &error);

  FUZZ_CHECK (!out == !!error);
  g_clear_error (&error);
  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  gchar *tmpl, *e0, *e1, *e2, *bad;
  GHashTable *v0, *v1, *v2, *hostile;
  gboolean ok;
  guint i, which;

  if (size < 1)
    return 0;
  which = data[0];
  tmpl = fuzz_string (data + 1, size - 1);
  ok = osvdi_template_check (tmpl, NULL);
  v0 = vars_all ("");
  v1 = vars_all ("x");
  v2 = vars_all ("y:");
  e0 = expand (tmpl, v0);
  e1 = expand (tmpl, v1);
  e2 = expand (tmpl, v2);
  FUZZ_CHECK (ok == (e0 != NULL) && ok == (e1 != NULL) && ok == (e2 != NULL));
  if (ok) {
    gsize refs = strlen (e1) - strlen (e0);

    FUZZ_CHECK (strlen (e1) >= strlen (e0));
    FUZZ_CHECK (strlen (e2) - strlen (e0) == 2 * refs);
    /* (Not with empty values: "$${X}{" is a literal "$" and "{".) */
    FUZZ_CHECK (!strstr (e1, "${") && !strstr (e2, "${"));
    if (!strstr (tmpl, "${"))
      FUZZ_CHECK (g_str_equal (e0, tmpl) && g_str_equal (e1, tmpl));
    /* A value that could inject pipeline syntax, for one variable. */
    for (i = 0; osvdi_template_variables[i]; i++);
    which %= i;
    hostile = vars_all ("x");
    g_hash_table_insert (hostile,
        (gpointer) osvdi_template_variables[which], (gpointer) "a ! b");
    bad = expand (tmpl, hostile);
    {
      gchar *ref = g_strdup_printf ("${%s}",
          osvdi_template_variables[which]);

      FUZZ_CHECK ((bad == NULL) == (strstr (tmpl, ref) != NULL));
      g_free (ref);
    }
    if (bad)
      FUZZ_CHECK (g_str_equal (bad, e1));
    g_free (bad);
    g_hash_table_unref (hostile);
  }
  g_free (e0);
  g_free (e1);
  g_free (e2);
  g_hash_table_unref (v0);
  g_hash_table_unref (v1);
  g_hash_table_unref (v2);
  g_free (tmpl);
  return 0;
}
