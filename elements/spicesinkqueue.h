/* OSVDI - spicesink's outgoing message queue
 * SPDX-License-Identifier: Apache-2.0
 *
 * What waits for spice-server to read from the stream device: control
 * messages, cursor messages and encoded frames, with the policy that keeps
 * a slow client from making frames pile up (at most max_frames wait; later
 * delta frames are dropped up to the next keyframe; a keyframe makes the
 * frames still waiting useless). No locking and no spice-server inside:
 * the sink calls it under its own lock, and its unit tests need no server.
 *
 * Nothing here frees a message: what leaves the queue goes to a @trash
 * queue that the caller empties with osvdi_sink_queue_free_trash() after
 * unlocking, because releasing a frame's buffer runs upstream's pool code.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum
{
  OSVDI_SINK_MSG_CONTROL,
  OSVDI_SINK_MSG_FRAME,
  OSVDI_SINK_MSG_CURSOR_SET,
  OSVDI_SINK_MSG_CURSOR_MOVE,
} OsvdiSinkMsgKind;

typedef struct _OsvdiSinkMsg OsvdiSinkMsg;

typedef struct
{
  GQueue queue;                 /* OsvdiSinkMsg, not yet started */
  OsvdiSinkMsg *current;        /* being read by spice-server */
  gsize current_offset;
  guint max_frames;             /* frames in queue + current */
  guint waiting_frames;
  guint max_waiting_frames;     /* the most that ever waited */
  gboolean need_keyframe;       /* delta frames are dropped until one */
  guint64 frames_sent, bytes_sent, frames_dropped;
} OsvdiSinkQueue;

typedef enum
{
  OSVDI_SINK_QUEUED,            /* the frame waits for spice-server */
  OSVDI_SINK_DROPPED,           /* a delta frame while a keyframe is due */
  OSVDI_SINK_DROPPED_BEHIND,    /* a delta frame with max_frames waiting:
                                 * a keyframe is due from now on */
} OsvdiSinkPushResult;

void osvdi_sink_queue_init (OsvdiSinkQueue * q, guint max_frames);

/* Everything to @trash, the state back to init's (counters kept). */
void osvdi_sink_queue_clear (OsvdiSinkQueue * q, GQueue * trash);

/* The frames not started yet to @trash (counted as dropped); a keyframe is
 * due. For a new client, new caps, or upstream restarting. */
void osvdi_sink_queue_restart (OsvdiSinkQueue * q, GQueue * trash);

/* Takes @bytes. At the head: the answer to spice-server's CAPABILITIES must
 * come before anything else. */
void osvdi_sink_queue_push_control (OsvdiSinkQueue * q, GBytes * bytes,
    gboolean at_head);

/* Takes @bytes. A cursor message of the same kind still waiting is
 * replaced: only the newest shape and position matter. Returns TRUE when a
 * message was added (the reader needs a wakeup). */
gboolean osvdi_sink_queue_push_cursor (OsvdiSinkQueue * q,
    OsvdiSinkMsgKind kind, GBytes * bytes);

/* Refs @buffer when queued. @tail (static, may be NULL) is sent after the
 * frame, inside the same stream message. Dropped frames are counted. */
OsvdiSinkPushResult osvdi_sink_queue_push_frame (OsvdiSinkQueue * q,
    GstBuffer * buffer, gboolean keyframe, const guint8 * tail,
    gsize tail_size, GQueue * trash);

/* Copies up to @len bytes of the waiting messages into @dest (the one copy
 * of a frame the sink makes, into spice-server's buffer); finished
 * messages go to @trash. Returns how many bytes were copied. */
gsize osvdi_sink_queue_read (OsvdiSinkQueue * q, guint8 * dest, gsize len,
    GQueue * trash);

void osvdi_sink_queue_free_trash (GQueue * trash);

G_END_DECLS
