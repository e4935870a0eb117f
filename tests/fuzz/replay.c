/* OSVDI - the fuzz targets' corpus replay, without libFuzzer
 * SPDX-License-Identifier: Apache-2.0
 *
 *   fuzz-replay-<target> DIR|FILE...
 *
 * Feeds every file (a directory's, in name order) to the target's
 * LLVMFuzzerTestOneInput() once, as libFuzzer would, so the seed corpus and
 * every crash reproducer kept in it run as a meson test in the ordinary
 * (gcc, ASan + UBSan) build. No input at all is a failure: a corpus that
 * went missing must not pass.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__((weak));

static guint
run_file (const gchar * path)
{
  gchar *data;
  gsize len;
  GError *error = NULL;
  guint8 *copy;

  if (!g_file_get_contents (path, &data, &len, &error)) {
    fprintf (stderr, "fuzz-replay: %s\n", error->message);
    exit (1);
  }
  /* An exact-size copy, as libFuzzer gives: ASan sees a read past it. */
  copy = g_memdup2 (data, len);
  g_free (data);
  fprintf (stderr, "fuzz-replay: %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  LLVMFuzzerTestOneInput (copy, len);
  g_free (copy);
  return 1;
}

static gint
by_name (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

int
main (int argc, char **argv)
{
  guint n = 0;
  int i;

  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize (&argc, &argv);
  for (i = 1; i < argc; i++) {
    GDir *dir = g_dir_open (argv[i], 0, NULL);
    GPtrArray *names;
    const gchar *name;
    guint j;

    if (!dir) {
      n += run_file (argv[i]);
      continue;
    }
    names = g_ptr_array_new_with_free_func (g_free);
    while ((name = g_dir_read_name (dir)))
      g_ptr_array_add (names, g_build_filename (argv[i], name, NULL));
    g_dir_close (dir);
    g_ptr_array_sort (names, by_name);
    for (j = 0; j < names->len; j++)
      if (g_file_test (names->pdata[j], G_FILE_TEST_IS_REGULAR))
        n += run_file (names->pdata[j]);
    g_ptr_array_unref (names);
  }
  if (!n) {
    fprintf (stderr, "fuzz-replay: no input in");
    for (i = 1; i < argc; i++)
      fprintf (stderr, " %s", argv[i]);
    fprintf (stderr, "\n");
    return 1;
  }
  printf ("fuzz-replay: %u inputs, no crash\n", n);
  return 0;
}
