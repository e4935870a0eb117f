/* OSVDI - spicesink: a silent playback channel that gives clients a media
 * clock without spice-server 0.15's 400 ms delay
 * SPDX-License-Identifier: Apache-2.0
 *
 * spice-server 0.15 starts every client's media clock 400 ms behind its own
 * (MM_TIME_DELTA) and has no public setter; spice-gtk's appsink video path
 * schedules stream frames by that clock. A client that plays audio resyncs
 * the clock from the playback channel: its audio backend reports its real
 * output latency (spice_playback_channel_set_delay), so frames are shown
 * that latency after their server time instead of 400 ms after. This plays
 * silence, 10 ms at a time, so that the audio clock exists for a VM that has
 * no audio of its own. Server thread only.
 */
#pragma once

#include <glib.h>
#include <spice.h>

G_BEGIN_DECLS

typedef struct _OsvdiAudioClock OsvdiAudioClock;

/* Adds the playback interface to @server (before or after
 * spice_server_init) and starts the silence on the thread-default
 * GMainContext. NULL if spice-server refused the interface. */
OsvdiAudioClock *osvdi_audio_clock_new (SpiceServer * server);

/* Silence frames handed to spice-server (a client was listening). */
guint64 osvdi_audio_clock_frames_sent (OsvdiAudioClock * clock);

/* Stops the silence; call before spice_server_destroy(). */
void osvdi_audio_clock_free (OsvdiAudioClock * clock);

G_END_DECLS
