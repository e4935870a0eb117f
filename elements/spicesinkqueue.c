/* OSVDI - spicesink's outgoing message queue
 * SPDX-License-Identifier: Apache-2.0
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spicesinkqueue.h"
#include "spicestream.h"

#include <string.h>

/* One message for spice-server to read: either whole bytes (control,
 * cursor) or a stream header followed by an encoded frame and its tail. */
struct _OsvdiSinkMsg
{
  OsvdiSinkMsgKind kind;
  GBytes *bytes;
  guint8 header[OSVDI_STREAM_HEADER_SIZE];
  GstBuffer *frame;
  gsize frame_size;
  const guint8 *tail;
  gsize tail_size;
  gsize size;
};

static void
msg_free (OsvdiSinkMsg * msg)
{
  if (msg->bytes)
    g_bytes_unref (msg->bytes);
  if (msg->frame)
    gst_buffer_unref (msg->frame);
  g_free (msg);
}

static OsvdiSinkMsg *
msg_new_bytes (OsvdiSinkMsgKind kind, GBytes * bytes)
{
  OsvdiSinkMsg *msg = g_new0 (OsvdiSinkMsg, 1);

  msg->kind = kind;
  msg->bytes = bytes;
  msg->size = g_bytes_get_size (bytes);
  return msg;
}

static OsvdiSinkMsg *
msg_new_frame (GstBuffer * buffer, const guint8 * tail, gsize tail_size)
{
  OsvdiSinkMsg *msg = g_new0 (OsvdiSinkMsg, 1);

  msg->kind = OSVDI_SINK_MSG_FRAME;
  msg->frame = gst_buffer_ref (buffer);
  msg->frame_size = gst_buffer_get_size (buffer);
  msg->tail = tail;
  msg->tail_size = tail ? tail_size : 0;
  osvdi_stream_write_header (msg->header, STREAM_TYPE_DATA,
      msg->frame_size + msg->tail_size);
  msg->size = OSVDI_STREAM_HEADER_SIZE + msg->frame_size + msg->tail_size;
  return msg;
}

/* Copies bytes of @msg from @offset into @dest: header, frame, tail. */
static gsize
msg_copy (OsvdiSinkMsg * msg, gsize offset, guint8 * dest, gsize len)
{
  gsize done = 0;

  len = MIN (len, msg->size - offset);
  if (msg->bytes) {
    memcpy (dest, (const guint8 *) g_bytes_get_data (msg->bytes, NULL)
        + offset, len);
    return len;
  }
  while (done < len) {
    gsize pos = offset + done, n;

    if (pos < OSVDI_STREAM_HEADER_SIZE) {
      n = MIN (len - done, OSVDI_STREAM_HEADER_SIZE - pos);
      memcpy (dest + done, msg->header + pos, n);
    } else if (pos < OSVDI_STREAM_HEADER_SIZE + msg->frame_size) {
      pos -= OSVDI_STREAM_HEADER_SIZE;
      n = gst_buffer_extract (msg->frame, pos, dest + done,
          MIN (len - done, msg->frame_size - pos));
      if (n == 0)
        break;
    } else {
      pos -= OSVDI_STREAM_HEADER_SIZE + msg->frame_size;
      n = MIN (len - done, msg->tail_size - pos);
      memcpy (dest + done, msg->tail + pos, n);
    }
    done += n;
  }
  return done;
}

void
osvdi_sink_queue_init (OsvdiSinkQueue * q, guint max_frames)
{
  memset (q, 0, sizeof (*q));
  g_queue_init (&q->queue);
  q->max_frames = MAX (max_frames, 1);
}

void
osvdi_sink_queue_clear (OsvdiSinkQueue * q, GQueue * trash)
{
  if (q->current)
    g_queue_push_tail (trash, q->current);
  q->current = NULL;
  q->current_offset = 0;
  while (!g_queue_is_empty (&q->queue))
    g_queue_push_tail (trash, g_queue_pop_head (&q->queue));
  q->waiting_frames = 0;
  q->need_keyframe = FALSE;
}

/* The frame spice-server is reading stays: it is half sent. */
static guint
drop_queued_frames (OsvdiSinkQueue * q, GQueue * trash)
{
  GList *l = q->queue.head;
  guint dropped = 0;

  while (l) {
    GList *next = l->next;
    OsvdiSinkMsg *msg = l->data;

    if (msg->kind == OSVDI_SINK_MSG_FRAME) {
      g_queue_delete_link (&q->queue, l);
      g_queue_push_tail (trash, msg);
      dropped++;
    }
    l = next;
  }
  q->waiting_frames -= dropped;
  q->frames_dropped += dropped;
  return dropped;
}

void
osvdi_sink_queue_restart (OsvdiSinkQueue * q, GQueue * trash)
{
  drop_queued_frames (q, trash);
  q->need_keyframe = TRUE;
}

void
osvdi_sink_queue_push_control (OsvdiSinkQueue * q, GBytes * bytes,
    gboolean at_head)
{
  OsvdiSinkMsg *msg = msg_new_bytes (OSVDI_SINK_MSG_CONTROL, bytes);

  if (at_head)
    g_queue_push_head (&q->queue, msg);
  else
    g_queue_push_tail (&q->queue, msg);
}

gboolean
osvdi_sink_queue_push_cursor (OsvdiSinkQueue * q, OsvdiSinkMsgKind kind,
    GBytes * bytes)
{
  GList *l;

  g_return_val_if_fail (kind == OSVDI_SINK_MSG_CURSOR_SET
      || kind == OSVDI_SINK_MSG_CURSOR_MOVE, FALSE);

  for (l = q->queue.head; l; l = l->next) {
    OsvdiSinkMsg *msg = l->data;

    if (msg->kind == kind) {
      g_bytes_unref (msg->bytes);
      msg->bytes = bytes;
      msg->size = g_bytes_get_size (bytes);
      return FALSE;
    }
  }
  g_queue_push_tail (&q->queue, msg_new_bytes (kind, bytes));
  return TRUE;
}

OsvdiSinkPushResult
osvdi_sink_queue_push_frame (OsvdiSinkQueue * q, GstBuffer * buffer,
    gboolean keyframe, const guint8 * tail, gsize tail_size, GQueue * trash)
{
  if (q->need_keyframe && !keyframe) {
    q->frames_dropped++;
    return OSVDI_SINK_DROPPED;
  }
  if (q->waiting_frames >= q->max_frames) {
    if (!keyframe) {
      /* The client is behind: skip to the next keyframe, now. */
      q->frames_dropped++;
      q->need_keyframe = TRUE;
      return OSVDI_SINK_DROPPED_BEHIND;
    }
    /* A keyframe makes the frames still waiting useless. */
    drop_queued_frames (q, trash);
  }
  q->need_keyframe = FALSE;
  g_queue_push_tail (&q->queue, msg_new_frame (buffer, tail, tail_size));
  q->waiting_frames++;
  q->max_waiting_frames = MAX (q->max_waiting_frames, q->waiting_frames);
  return OSVDI_SINK_QUEUED;
}

gsize
osvdi_sink_queue_read (OsvdiSinkQueue * q, guint8 * dest, gsize len,
    GQueue * trash)
{
  gsize done = 0;

  while (done < len) {
    OsvdiSinkMsg *msg = q->current;
    gsize n;

    if (!msg) {
      msg = q->current = g_queue_pop_head (&q->queue);
      q->current_offset = 0;
      if (!msg)
        break;
    }
    n = msg_copy (msg, q->current_offset, dest + done, len - done);
    if (n == 0 && q->current_offset < msg->size)
      break;                    /* a frame shorter than it said: stop */
    done += n;
    q->current_offset += n;
    if (q->current_offset < msg->size)
      continue;

    if (msg->kind == OSVDI_SINK_MSG_FRAME) {
      q->frames_sent++;
      q->bytes_sent += msg->frame_size;
      q->waiting_frames--;
    }
    g_queue_push_tail (trash, msg);
    q->current = NULL;
  }
  return done;
}

void
osvdi_sink_queue_free_trash (GQueue * trash)
{
  g_queue_clear_full (trash, (GDestroyNotify) msg_free);
}
