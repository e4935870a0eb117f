/* OSVDI - spicesink's outgoing queue and its drop policy, no server needed
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gst/check/gstcheck.h>
#include <string.h>

#include "spicesinkqueue.h"
#include "spicestream.h"

/* A frame whose bytes are all @fill; frees are counted through a qdata
 * notify, so a test sees exactly when the queue lets go of a buffer. */
static guint frames_freed;

static void
count_free (gpointer data)
{
  (void) data;
  frames_freed++;
}

static GstBuffer *
frame (guint8 fill, gsize size, gboolean keyframe)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, size, NULL);

  gst_buffer_memset (b, 0, fill, size);
  if (!keyframe)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  gst_mini_object_set_qdata (GST_MINI_OBJECT (b),
      g_quark_from_static_string ("osvdi-test-free"), GUINT_TO_POINTER (1),
      count_free);
  return b;
}

static OsvdiSinkPushResult
push (OsvdiSinkQueue * q, guint8 fill, gboolean keyframe)
{
  GQueue trash = G_QUEUE_INIT;
  GstBuffer *b = frame (fill, 100, keyframe);
  OsvdiSinkPushResult r =
      osvdi_sink_queue_push_frame (q, b, keyframe, NULL, 0, &trash);

  gst_buffer_unref (b);
  osvdi_sink_queue_free_trash (&trash);
  return r;
}

/* Reads everything waiting; returns the fill bytes of the frames seen, in
 * order, as a string of their values. */
static GString *
read_all (OsvdiSinkQueue * q, gsize chunk)
{
  GString *seen = g_string_new (NULL);
  GByteArray *all = g_byte_array_new ();
  guint8 buf[4096];
  gsize n, pos = 0;
  GQueue trash = G_QUEUE_INIT;

  g_assert (chunk <= sizeof (buf));
  while ((n = osvdi_sink_queue_read (q, buf, chunk, &trash)) > 0)
    g_byte_array_append (all, buf, n);
  osvdi_sink_queue_free_trash (&trash);

  /* Parse the stream messages back. */
  while (pos + OSVDI_STREAM_HEADER_SIZE <= all->len) {
    guint8 type = all->data[pos + 2];
    guint32 size = GST_READ_UINT32_LE (all->data + pos + 4);

    fail_unless (pos + OSVDI_STREAM_HEADER_SIZE + size <= all->len);
    if (type == STREAM_TYPE_DATA)
      g_string_append_printf (seen, "%c", all->data[pos + 8]);
    else
      g_string_append_printf (seen, "<%u>", type);
    pos += OSVDI_STREAM_HEADER_SIZE + size;
  }
  fail_unless_equals_int (pos, all->len);
  g_byte_array_unref (all);
  return seen;
}

GST_START_TEST (test_frames_in_order_any_chunk)
{
  static const gsize chunks[] = { 1, 3, 8, 99, 4096 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (chunks); i++) {
    OsvdiSinkQueue q;
    GString *seen;

    osvdi_sink_queue_init (&q, 2);
    fail_unless_equals_int (push (&q, 'A', TRUE), OSVDI_SINK_QUEUED);
    fail_unless_equals_int (push (&q, 'b', FALSE), OSVDI_SINK_QUEUED);
    fail_unless_equals_int (q.waiting_frames, 2);
    seen = read_all (&q, chunks[i]);
    fail_unless_equals_string (seen->str, "Ab");
    g_string_free (seen, TRUE);
    fail_unless_equals_int (q.waiting_frames, 0);
    fail_unless_equals_int (q.frames_sent, 2);
    fail_unless_equals_int (q.bytes_sent, 200);
    fail_unless_equals_int (q.frames_dropped, 0);
  }
}

GST_END_TEST;

GST_START_TEST (test_behind_drops_to_keyframe)
{
  OsvdiSinkQueue q;
  GString *seen;

  osvdi_sink_queue_init (&q, 2);
  frames_freed = 0;
  push (&q, 'A', TRUE);
  push (&q, 'b', FALSE);
  /* Two wait: a third delta frame is dropped, and a keyframe is due. */
  fail_unless_equals_int (push (&q, 'c', FALSE), OSVDI_SINK_DROPPED_BEHIND);
  fail_unless (q.need_keyframe);
  fail_unless_equals_int (push (&q, 'd', FALSE), OSVDI_SINK_DROPPED);
  fail_unless_equals_int (frames_freed, 2);
  /* The keyframe replaces both frames still waiting. */
  fail_unless_equals_int (push (&q, 'E', TRUE), OSVDI_SINK_QUEUED);
  fail_unless (!q.need_keyframe);
  fail_unless_equals_int (q.frames_dropped, 4);
  fail_unless_equals_int (frames_freed, 4);
  fail_unless_equals_int (q.waiting_frames, 1);
  fail_unless_equals_int (q.max_waiting_frames, 2);
  seen = read_all (&q, 4096);
  fail_unless_equals_string (seen->str, "E");
  g_string_free (seen, TRUE);
  fail_unless_equals_int (frames_freed, 5);
}

GST_END_TEST;

/* The frame spice-server has begun to read is never dropped: it would cut
 * a stream message in half. */
GST_START_TEST (test_half_read_frame_survives)
{
  OsvdiSinkQueue q;
  GQueue trash = G_QUEUE_INIT;
  guint8 buf[4096];
  gsize n;
  GString *seen;

  osvdi_sink_queue_init (&q, 2);
  push (&q, 'A', TRUE);
  push (&q, 'b', FALSE);
  n = osvdi_sink_queue_read (&q, buf, 20, &trash);
  fail_unless_equals_int (n, 20);
  fail_unless (g_queue_is_empty (&trash));
  osvdi_sink_queue_restart (&q, &trash);
  fail_unless_equals_int (g_queue_get_length (&trash), 1);
  osvdi_sink_queue_free_trash (&trash);
  fail_unless_equals_int (q.waiting_frames, 1);
  fail_unless (q.need_keyframe);
  /* The rest of A follows, and nothing else. */
  n = osvdi_sink_queue_read (&q, buf, sizeof (buf), &trash);
  fail_unless_equals_int (n, OSVDI_STREAM_HEADER_SIZE + 100 - 20);
  fail_unless_equals_int (buf[0], 'A');
  osvdi_sink_queue_free_trash (&trash);
  seen = read_all (&q, 4096);
  fail_unless_equals_string (seen->str, "");
  g_string_free (seen, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_control_and_cursor)
{
  OsvdiSinkQueue q;
  GQueue trash = G_QUEUE_INIT;
  GString *seen;

  osvdi_sink_queue_init (&q, 2);
  push (&q, 'A', TRUE);
  osvdi_sink_queue_push_control (&q, osvdi_stream_msg_format (64, 48, 3),
      FALSE);
  fail_unless (osvdi_sink_queue_push_cursor (&q, OSVDI_SINK_MSG_CURSOR_MOVE,
          osvdi_stream_msg_cursor_move (1, 2)));
  /* A newer position replaces the one still waiting: no new message. */
  fail_if (osvdi_sink_queue_push_cursor (&q, OSVDI_SINK_MSG_CURSOR_MOVE,
          osvdi_stream_msg_cursor_move (3, 4)));
  /* The answer to CAPABILITIES goes first. */
  osvdi_sink_queue_push_control (&q, osvdi_stream_msg_capabilities (), TRUE);
  seen = read_all (&q, 7);
  fail_unless_equals_string (seen->str, "<1>A<2><7>");
  g_string_free (seen, TRUE);

  /* clear() hands back everything, the half-read message too. */
  push (&q, 'B', TRUE);
  osvdi_sink_queue_push_control (&q, osvdi_stream_msg_capabilities (), FALSE);
  {
    guint8 buf[4];
    fail_unless_equals_int (osvdi_sink_queue_read (&q, buf, 4, &trash), 4);
  }
  osvdi_sink_queue_clear (&q, &trash);
  fail_unless_equals_int (g_queue_get_length (&trash), 2);
  osvdi_sink_queue_free_trash (&trash);
  fail_unless_equals_int (q.waiting_frames, 0);
  fail_unless (q.current == NULL);
}

GST_END_TEST;

GST_START_TEST (test_frame_tail)
{
  static const guint8 tail[] = { 0, 0, 0, 1, 9, 0xf0 };
  OsvdiSinkQueue q;
  GQueue trash = G_QUEUE_INIT;
  GstBuffer *b = frame ('A', 10, TRUE);
  guint8 buf[64];
  gsize n;

  osvdi_sink_queue_init (&q, 2);
  osvdi_sink_queue_push_frame (&q, b, TRUE, tail, sizeof (tail), &trash);
  gst_buffer_unref (b);
  n = osvdi_sink_queue_read (&q, buf, sizeof (buf), &trash);
  fail_unless_equals_int (n, OSVDI_STREAM_HEADER_SIZE + 10 + sizeof (tail));
  fail_unless_equals_int (GST_READ_UINT32_LE (buf + 4), 10 + sizeof (tail));
  fail_unless (memcmp (buf + OSVDI_STREAM_HEADER_SIZE + 10, tail,
          sizeof (tail)) == 0);
  /* Only the frame's own bytes count as sent. */
  fail_unless_equals_int (q.bytes_sent, 10);
  osvdi_sink_queue_free_trash (&trash);
}

GST_END_TEST;

static Suite *
spicesinkqueue_suite (void)
{
  Suite *s = suite_create ("spicesinkqueue");
  TCase *tc = tcase_create ("queue");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_frames_in_order_any_chunk);
  tcase_add_test (tc, test_behind_drops_to_keyframe);
  tcase_add_test (tc, test_half_read_frame_survives);
  tcase_add_test (tc, test_control_and_cursor);
  tcase_add_test (tc, test_frame_tail);
  return s;
}

GST_CHECK_MAIN (spicesinkqueue);
