/* OSVDI - spicesink: a silent playback channel as the clients' media clock
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spiceaudioclock.h"

#include <string.h>

/* 48 kHz is the rate spice-server compresses with Opus when the client can
 * decode it; silence then costs a few bytes per packet. */
#define RATE 48000
#define PERIOD_MS 10

struct _OsvdiAudioClock
{
  SpicePlaybackInstance sin;
  GSource *timer;
  gint64 next_us;               /* monotonic time the next period is due */
  guint64 frames_sent;
};

static const SpicePlaybackInterface playback_interface = {
  .base = {
        .type = SPICE_INTERFACE_PLAYBACK,
        .description = "osvdi silence",
        .major_version = SPICE_INTERFACE_PLAYBACK_MAJOR,
        .minor_version = SPICE_INTERFACE_PLAYBACK_MINOR,
      },
};

/* Hands spice-server the periods that fell due, so the client's audio
 * neither starves nor piles up when a timer fires late. */
static gboolean
silence_tick (gpointer data)
{
  OsvdiAudioClock *clock = data;
  gint64 now = g_get_monotonic_time ();
  guint periods = 0;

  if (now - clock->next_us > 200 * G_TIME_SPAN_MILLISECOND)
    clock->next_us = now;       /* a stall: do not burst */
  while (clock->next_us <= now && periods < 20) {
    uint32_t *samples = NULL, n = 0;

    spice_server_playback_get_buffer (&clock->sin, &samples, &n);
    if (samples && n) {
      /* n stereo S16 frames: 4 bytes each. */
      memset (samples, 0, (gsize) n * 4);
      spice_server_playback_put_samples (&clock->sin, samples);
      clock->frames_sent++;
    }
    clock->next_us += PERIOD_MS * G_TIME_SPAN_MILLISECOND;
    periods++;
  }
  return G_SOURCE_CONTINUE;
}

OsvdiAudioClock *
osvdi_audio_clock_new (SpiceServer * server)
{
  OsvdiAudioClock *clock = g_new0 (OsvdiAudioClock, 1);

  clock->sin.base.sif = &playback_interface.base;
  if (spice_server_add_interface (server, &clock->sin.base) != 0) {
    g_free (clock);
    return NULL;
  }
  spice_server_set_playback_rate (&clock->sin, RATE);
  spice_server_playback_start (&clock->sin);
  clock->next_us = g_get_monotonic_time ();
  clock->timer = g_timeout_source_new (PERIOD_MS);
  g_source_set_callback (clock->timer, silence_tick, clock, NULL);
  g_source_attach (clock->timer, g_main_context_get_thread_default ());
  return clock;
}

guint64
osvdi_audio_clock_frames_sent (OsvdiAudioClock * clock)
{
  return clock ? clock->frames_sent : 0;
}

void
osvdi_audio_clock_free (OsvdiAudioClock * clock)
{
  if (!clock)
    return;
  g_source_destroy (clock->timer);
  g_source_unref (clock->timer);
  spice_server_playback_stop (&clock->sin);
  spice_server_remove_interface (&clock->sin.base);
  g_free (clock);
}
