/* OSVDI - spice-server's event-loop interface on a GLib main context
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spicecore.h"

#include <glib-object.h>
#include <glib-unix.h>

struct SpiceTimer
{
  SpiceTimerFunc func;
  void *opaque;
  GMainContext *context;
  GSource *source;
};

struct SpiceWatch
{
  int fd;
  int event_mask;
  SpiceWatchFunc func;
  void *opaque;
  GMainContext *context;
  GSource *source;
};

typedef struct
{
  OsvdiSpiceChannelEventFunc func;
  gpointer user_data;
} ChannelEventReceiver;

/* One receiver per spice-server thread: each spicesink runs its own. */
static __thread ChannelEventReceiver receiver;

static GMainContext *
current_context (void)
{
  GMainContext *ctx = g_main_context_get_thread_default ();

  /* Only reachable when spice-server is called from a thread that did not
   * push the sink's context: a programming error, not a runtime condition. */
  g_return_val_if_fail (ctx != NULL, g_main_context_default ());
  return ctx;
}

static gboolean
timer_dispatch (gpointer data)
{
  SpiceTimer *timer = data;

  /* One-shot: forget the source before the callback, which may restart it. */
  g_source_unref (timer->source);
  timer->source = NULL;
  timer->func (timer->opaque);
  return G_SOURCE_REMOVE;
}

static SpiceTimer *
timer_add (SpiceTimerFunc func, void *opaque)
{
  SpiceTimer *timer = g_new0 (SpiceTimer, 1);

  timer->func = func;
  timer->opaque = opaque;
  timer->context = g_main_context_ref (current_context ());
  return timer;
}

static void
timer_cancel (SpiceTimer * timer)
{
  if (timer->source) {
    g_source_destroy (timer->source);
    g_source_unref (timer->source);
    timer->source = NULL;
  }
}

static void
timer_start (SpiceTimer * timer, uint32_t ms)
{
  timer_cancel (timer);
  timer->source = g_timeout_source_new (ms);
  g_source_set_callback (timer->source, timer_dispatch, timer, NULL);
  g_source_attach (timer->source, timer->context);
}

static void
timer_remove (SpiceTimer * timer)
{
  timer_cancel (timer);
  g_main_context_unref (timer->context);
  g_free (timer);
}

static GIOCondition
mask_to_condition (int event_mask)
{
  GIOCondition cond = 0;

  if (event_mask & SPICE_WATCH_EVENT_READ)
    cond |= G_IO_IN;
  if (event_mask & SPICE_WATCH_EVENT_WRITE)
    cond |= G_IO_OUT;
  return cond;
}

static gboolean
watch_dispatch (gint fd, GIOCondition cond, gpointer data)
{
  SpiceWatch *watch = data;
  int event = 0;

  /* Errors and hang-ups are reported as readable so spice-server's read
   * fails and tears the connection down. */
  if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    event |= SPICE_WATCH_EVENT_READ;
  if (cond & G_IO_OUT)
    event |= SPICE_WATCH_EVENT_WRITE;

  /* The callback may update or remove this very watch: do not touch it
   * afterwards. Returning CONTINUE on a destroyed source is harmless. */
  watch->func (fd, event, watch->opaque);
  return G_SOURCE_CONTINUE;
}

static void
watch_attach (SpiceWatch * watch)
{
  if (watch->source) {
    g_source_destroy (watch->source);
    g_source_unref (watch->source);
    watch->source = NULL;
  }
  if (watch->event_mask == 0)
    return;
  watch->source = g_unix_fd_source_new (watch->fd,
      mask_to_condition (watch->event_mask));
  g_source_set_callback (watch->source, (GSourceFunc) (GCallback)
      watch_dispatch, watch, NULL);
  g_source_attach (watch->source, watch->context);
}

static SpiceWatch *
watch_add (int fd, int event_mask, SpiceWatchFunc func, void *opaque)
{
  SpiceWatch *watch = g_new0 (SpiceWatch, 1);

  watch->fd = fd;
  watch->event_mask = event_mask;
  watch->func = func;
  watch->opaque = opaque;
  watch->context = g_main_context_ref (current_context ());
  watch_attach (watch);
  return watch;
}

static void
watch_update_mask (SpiceWatch * watch, int event_mask)
{
  if (watch->event_mask == event_mask && watch->source)
    return;
  watch->event_mask = event_mask;
  watch_attach (watch);
}

static void
watch_remove (SpiceWatch * watch)
{
  watch->event_mask = 0;
  watch_attach (watch);
  g_main_context_unref (watch->context);
  g_free (watch);
}

static void
channel_event (int event, SpiceChannelEventInfo * info)
{
  if (receiver.func)
    receiver.func (receiver.user_data, event, info);
}

static SpiceCoreInterface core_interface = {
  .base = {
        .type = SPICE_INTERFACE_CORE,
        .description = "OSVDI GLib core",
        .major_version = SPICE_INTERFACE_CORE_MAJOR,
        .minor_version = SPICE_INTERFACE_CORE_MINOR,
      },
  .timer_add = timer_add,
  .timer_start = timer_start,
  .timer_cancel = timer_cancel,
  .timer_remove = timer_remove,
  .watch_add = watch_add,
  .watch_update_mask = watch_update_mask,
  .watch_remove = watch_remove,
  .channel_event = channel_event,
};

SpiceCoreInterface *
osvdi_spice_core_get (void)
{
  return &core_interface;
}

void
osvdi_spice_core_bind_thread (OsvdiSpiceChannelEventFunc func,
    gpointer user_data)
{
  receiver.func = func;
  receiver.user_data = user_data;
}

void
osvdi_spice_core_unbind_thread (void)
{
  receiver.func = NULL;
  receiver.user_data = NULL;
}
