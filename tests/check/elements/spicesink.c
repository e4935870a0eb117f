/* OSVDI - spicesink without a client: settings, errors, state changes
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gst/check/gstcheck.h>

GST_START_TEST (test_placeholder_inspect)
{
  GstElement *sink = gst_element_factory_make ("spicesink", NULL);

  fail_unless (sink != NULL);
  gst_object_unref (sink);
}

GST_END_TEST;

static Suite *
spicesink_suite (void)
{
  Suite *s = suite_create ("spicesink");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_placeholder_inspect);
  return s;
}

GST_CHECK_MAIN (spicesink);
