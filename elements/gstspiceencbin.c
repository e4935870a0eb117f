/* OSVDI - spiceencbin
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * SECTION:element-spiceencbin
 * @title: spiceencbin
 *
 * Encodes raw video for spicesink and serves each SPICE client a codec it
 * decodes: spice-html5 (a browser) decodes VP8 and MJPEG only,
 * remote-viewer H.264 too. The bin holds one encoder branch at a time, one
 * per codec it may use, and switches branches when downstream's caps change:
 * spicesink's CAPS query answers the codecs the connected client decodes
 * and it sends RECONFIGURE upstream when a client with other codecs starts.
 *
 * The branch is the first codec of #GstSpiceEncBin:codecs whose encoded caps
 * downstream accepts, chosen before the first buffer (so a client connected
 * before the pipeline starts gets a codec it decodes from the first frame)
 * and again on every RECONFIGURE event from downstream. A switch happens
 * when no buffer is in flight into the old branch (an IDLE pad probe, so it
 * also happens on a still screen): the old branch is dropped with the frames
 * it holds, the new one gets the stream's caps and segment and starts with a
 * keyframe; an `osvdi/refresh` event upstream makes a source that sends only
 * on change (vfiodmabufsrc) send its picture again, and a RECONFIGURE lets it
 * renegotiate if the new branch takes other raw caps. Each switch posts an
 * element message `osvdi-codec-switch` with the string fields `from` and
 * `to`. When no configured codec suits downstream, the current branch stays
 * and a warning names the caps downstream takes.
 *
 * Each branch is a gst-launch description of the whole path from raw video
 * to encoded output, one property per codec (#GstSpiceEncBin:h264-encoder,
 * #GstSpiceEncBin:vp8-encoder, ...): a flavor can put a hardware encoder
 * with its own memory (vapostproc ! vah264enc) in the H.264 branch and a
 * software one behind videoconvert in the VP8 branch. The branches are
 * parsed when the element goes from NULL to READY; a description that does
 * not parse, names a missing element or leaves no unlinked raw input and
 * encoded output fails that state change with an error naming the property.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! spiceencbin ! \
 *     spicesink port=5900 password=secret
 * ]| H.264 for remote-viewer, VP8 for spice-html5, MJPEG for any other
 * client, from one pipeline.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! spiceencbin codecs=vp8,h264 \
 *     h264-encoder="vapostproc ! vah264enc ! h264parse" ! \
 *     spicesink port=5900 password=secret
 * ]| VP8 first, H.264 on the GPU for clients without VP8.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspiceencbin.h"

#include <string.h>
#include <gst/video/video.h>

GST_DEBUG_CATEGORY_STATIC (gst_spice_enc_bin_debug);
#define GST_CAT_DEFAULT gst_spice_enc_bin_debug

#define DEFAULT_CODECS "h264,vp8,mjpeg"
#define DEFAULT_H264_ENCODER "videoconvert ! x264enc tune=zerolatency " \
  "speed-preset=ultrafast bitrate=8000 key-int-max=120 ! h264parse"
#define DEFAULT_VP8_ENCODER "videoconvert ! vp8enc deadline=1 cpu-used=8 " \
  "end-usage=cbr target-bitrate=8000000 keyframe-max-dist=120 threads=2"
#define DEFAULT_MJPEG_ENCODER "videoconvert ! jpegenc quality=85"

typedef enum
{
  CODEC_H264,
  CODEC_VP8,
  CODEC_MJPEG,
  CODEC_H265,
  CODEC_VP9,
  N_CODECS
} Codec;

/* What each branch must produce: spicesink's template, codec by codec. */
static GstStaticCaps codec_caps[N_CODECS] = {
  GST_STATIC_CAPS ("video/x-h264, stream-format=byte-stream, alignment=au"),
  GST_STATIC_CAPS ("video/x-vp8"),
  GST_STATIC_CAPS ("image/jpeg"),
  GST_STATIC_CAPS ("video/x-h265, stream-format=byte-stream, alignment=au"),
  GST_STATIC_CAPS ("video/x-vp9"),
};

static const gchar *const codec_names[N_CODECS] = {
  "h264", "vp8", "mjpeg", "h265", "vp9"
};

enum
{
  PROP_0,
  PROP_CODECS,
  PROP_H264_ENCODER,
  PROP_VP8_ENCODER,
  PROP_MJPEG_ENCODER,
  PROP_H265_ENCODER,
  PROP_VP9_ENCODER,
  PROP_CODEC,
  PROP_SWITCHES,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

struct _GstSpiceEncBin
{
  GstBin parent;

  /* For the element's life. */
  GstPad *sinkpad;              /* ghost: raw video in */
  GstPad *srcpad;               /* ghost: encoded video out */
  GstPad *sink_internal;        /* sinkpad's internal pad, feeds the branch */
  GstPad *src_internal;         /* srcpad's internal pad, the branch feeds it */

  /* Settings: GST_OBJECT_LOCK. Read at NULL -> READY. */
  gchar *codecs;
  gchar *encoder[N_CODECS];

  /* Branch state: `lock`. branch[], order[] and n_order change only at
   * NULL <-> READY (nothing streams then); the rest also on the thread of
   * a RECONFIGURE (spicesink's upstream thread) and in the IDLE probe (the
   * upstream streaming thread). `lock` is never held while pushing an
   * event, posting a message or changing an element's state; a swap is
   * serialised by `swapping` (waited for on `cond`) instead. Lock order:
   * a pad's object lock may be held when `lock` is taken (probes), never
   * the reverse. */
  GMutex lock;
  GCond cond;
  GstElement *branch[N_CODECS]; /* parsed, ours; NULL: not configured */
  Codec order[N_CODECS];        /* the codecs property, parsed */
  guint n_order;
  gint current;                 /* the branch in the bin, -1: none */
  gint pending;                 /* the branch to swap to, -1: none */
  gboolean swapping;            /* a swap is under way (without `lock`) */
  gboolean flushing;            /* not streaming: no swaps from probes */
  gboolean probe_installed;     /* an IDLE probe waits on sink_internal */
  guint probe_gen;              /* which one */
  gulong probe_id;              /* its id, 0 once it ran */
  guint switches;
};

#define gst_spice_enc_bin_parent_class parent_class
G_DEFINE_TYPE (GstSpiceEncBin, gst_spice_enc_bin, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE (spiceencbin, "spiceencbin", GST_RANK_NONE,
    GST_TYPE_SPICE_ENC_BIN);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw(ANY)"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-h264, stream-format=byte-stream, alignment=au; "
        "video/x-h265, stream-format=byte-stream, alignment=au; "
        "video/x-vp8; video/x-vp9; image/jpeg"));

/* ------------------------------------------------------------------------ */
/* Settings                                                                 */

/* Parses a comma-separated codec list into @order (duplicates once); FALSE
 * with the offending name in @bad (free it) at an unknown one. */
static gboolean
parse_codecs (const gchar * codecs, Codec * order, guint * n, gchar ** bad)
{
  gchar **names = g_strsplit (codecs ? codecs : "", ",", -1);
  gboolean ok = TRUE;
  guint i, j, k;

  *n = 0;
  for (i = 0; names[i] && ok; i++) {
    gchar *name = g_strstrip (names[i]);
    gboolean dup = FALSE;

    if (!*name)
      continue;
    for (j = 0; j < N_CODECS; j++)
      if (g_ascii_strcasecmp (name, codec_names[j]) == 0)
        break;
    if (j == N_CODECS) {
      *bad = g_strdup (name);
      ok = FALSE;
      break;
    }
    for (k = 0; k < *n; k++)
      dup |= order[k] == (Codec) j;
    if (!dup)
      order[(*n)++] = j;
  }
  g_strfreev (names);
  return ok;
}

static gchar *
codecs_string (const Codec * order, guint n)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%s%s", i ? "," : "", codec_names[order[i]]);
  return g_string_free (s, FALSE);
}

/* What the bin can produce: the configured codecs, in preference order
 * (before NULL -> READY, from the settings). */
static GstCaps *
offered_caps (GstSpiceEncBin * self)
{
  Codec order[N_CODECS];
  guint n, i;
  GstCaps *caps = gst_caps_new_empty ();

  g_mutex_lock (&self->lock);
  n = self->n_order;
  memcpy (order, self->order, sizeof (order));
  g_mutex_unlock (&self->lock);
  if (n == 0) {
    gchar *bad = NULL;

    GST_OBJECT_LOCK (self);
    parse_codecs (self->codecs, order, &n, &bad);
    for (i = 0; i < n; i++)
      if (!self->encoder[order[i]] || !*self->encoder[order[i]])
        order[i] = N_CODECS;
    GST_OBJECT_UNLOCK (self);
    g_free (bad);
  }
  for (i = 0; i < n; i++)
    if (order[i] < N_CODECS)
      caps = gst_caps_merge (caps, gst_static_caps_get (&codec_caps[order[i]]));
  return caps;
}

/* ------------------------------------------------------------------------ */
/* Choosing and swapping branches                                           */

/* The first configured codec downstream accepts, or -1 (@peer receives
 * downstream's caps then). Takes no lock around the query: it runs
 * downstream's handlers. */
static gint
choose_branch (GstSpiceEncBin * self, GstCaps ** peer_out)
{
  GstCaps *peer = gst_pad_peer_query_caps (self->srcpad, NULL);
  Codec order[N_CODECS];
  guint n, i;
  gint want = -1;

  g_mutex_lock (&self->lock);
  n = self->n_order;
  memcpy (order, self->order, sizeof (order));
  g_mutex_unlock (&self->lock);

  for (i = 0; i < n && want < 0; i++) {
    GstCaps *caps = gst_static_caps_get (&codec_caps[order[i]]);

    if (gst_caps_can_intersect (caps, peer))
      want = order[i];
    gst_caps_unref (caps);
  }
  GST_DEBUG_OBJECT (self, "downstream takes %" GST_PTR_FORMAT ": %s", peer,
      want >= 0 ? codec_names[want] : "none of ours");
  if (want < 0 && peer_out)
    *peer_out = peer;
  else
    gst_caps_unref (peer);
  return want;
}

static void
warn_no_codec (GstSpiceEncBin * self, GstCaps * peer, gint keep)
{
  gchar *caps = gst_caps_to_string (peer);
  gchar *codecs;

  g_mutex_lock (&self->lock);
  codecs = codecs_string (self->order, self->n_order);
  g_mutex_unlock (&self->lock);
  GST_ELEMENT_WARNING (self, STREAM, CODEC_NOT_FOUND,
      ("None of the configured codecs (%s) is accepted downstream, which "
          "takes %s; staying with %s.", codecs, caps,
          keep >= 0 ? codec_names[keep] : "none"),
      ("set \"codecs\" and the branches to a codec downstream takes"));
  g_free (codecs);
  g_free (caps);
}

/* Replaces branch @from (-1: none) with @to in the bin and retargets the
 * ghost pads. Only where no buffer flows into the branch: from the IDLE
 * probe, or while not streaming (@sync FALSE: the bin's own state change
 * sets the new branch's state). */
static void
swap_branch (GstSpiceEncBin * self, gint from, gint to, gboolean sync)
{
  GstElement *old = from >= 0 ? self->branch[from] : NULL;
  GstElement *branch = self->branch[to];
  GstPad *sink = gst_element_get_static_pad (branch, "sink");
  GstPad *src = gst_element_get_static_pad (branch, "src");

  if (old) {
    /* Stopped first, so that nothing it still holds is pushed while its
     * output is unlinked; frames inside it are dropped. Its state locked,
     * so that a state change of the bin under way (its children listed
     * before the removal) leaves it in NULL. Removing it unlinks it from
     * the ghost pads; our reference keeps it for later. */
    gst_element_set_locked_state (old, TRUE);
    gst_element_set_state (old, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), old);
  }
  gst_element_set_locked_state (branch, FALSE);
  gst_bin_add (GST_BIN (self), branch);
  /* Linking the sink side marks the stream's sticky events (stream-start,
   * caps, segment) pending on the internal pad: the branch gets them
   * before the next buffer. */
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->srcpad), src);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->sinkpad), sink);
  if (sync)
    gst_element_sync_state_with_parent (branch);
  gst_object_unref (sink);
  gst_object_unref (src);
}

/* After a switch: say so, and restart the picture: a keyframe from the new
 * encoder, the source's picture again (a still screen sends nothing by
 * itself), and raw caps renegotiated if the new branch wants others. */
static void
announce_switch (GstSpiceEncBin * self, gint from, gint to)
{
  GST_INFO_OBJECT (self, "switched encoder from %s to %s",
      codec_names[from], codec_names[to]);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("osvdi-codec-switch",
              "from", G_TYPE_STRING, codec_names[from],
              "to", G_TYPE_STRING, codec_names[to], NULL)));
  gst_pad_push_event (self->src_internal,
      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE,
          0));
  gst_pad_push_event (self->sinkpad,
      gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
          gst_structure_new_empty ("osvdi/refresh")));
  gst_pad_push_event (self->sinkpad, gst_event_new_reconfigure ());
}

/* Swaps until the bin holds the pending branch. One swapper at a time. */
static void
run_swaps (GstSpiceEncBin * self, gboolean sync)
{
  g_mutex_lock (&self->lock);
  for (;;) {
    gint from, to;

    while (self->swapping)
      g_cond_wait (&self->cond, &self->lock);
    if ((sync && self->flushing) || self->pending < 0
        || self->pending == self->current)
      break;
    from = self->current;
    to = self->pending;

    self->swapping = TRUE;
    g_mutex_unlock (&self->lock);

    swap_branch (self, from, to, sync);

    g_mutex_lock (&self->lock);
    self->current = to;
    if (from >= 0)
      self->switches++;
    self->swapping = FALSE;
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);

    if (from >= 0)
      announce_switch (self, from, to);
    else
      GST_INFO_OBJECT (self, "encoding %s", codec_names[to]);
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CODEC]);
    g_mutex_lock (&self->lock);
  }
  self->pending = -1;
  g_mutex_unlock (&self->lock);
}

static GstPadProbeReturn
idle_swap_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstSpiceEncBin *self = user_data;

  g_mutex_lock (&self->lock);
  self->probe_installed = FALSE;
  self->probe_id = 0;
  g_mutex_unlock (&self->lock);
  /* Nothing is pushed into the branch until this returns. */
  run_swaps (self, TRUE);
  return GST_PAD_PROBE_REMOVE;
}

/* Asks for branch @want once the pad into the branch is idle (at once when
 * it is). TRUE when that is a switch. */
static gboolean
request_branch (GstSpiceEncBin * self, gint want)
{
  gboolean install = FALSE, other;
  guint gen = 0;
  gulong id;

  g_mutex_lock (&self->lock);
  if (self->flushing) {
    /* READY -> PAUSED chooses anew. */
    g_mutex_unlock (&self->lock);
    return FALSE;
  }
  other = want != self->current;
  self->pending = want;
  if (other && !self->probe_installed) {
    self->probe_installed = install = TRUE;
    gen = ++self->probe_gen;
  }
  g_mutex_unlock (&self->lock);

  if (!install)
    return other;
  GST_DEBUG_OBJECT (self, "switching to %s when idle", codec_names[want]);
  id = gst_pad_add_probe (self->sink_internal, GST_PAD_PROBE_TYPE_IDLE,
      idle_swap_probe, gst_object_ref (self), gst_object_unref);
  g_mutex_lock (&self->lock);
  /* Unless it already ran (then it was removed). */
  if (id && self->probe_installed && self->probe_gen == gen)
    self->probe_id = id;
  g_mutex_unlock (&self->lock);
  return other;
}

static void
remove_idle_probe (GstSpiceEncBin * self)
{
  gulong id;

  g_mutex_lock (&self->lock);
  id = self->probe_id;
  self->probe_id = 0;
  self->probe_installed = FALSE;
  self->pending = -1;
  g_mutex_unlock (&self->lock);
  if (id)
    gst_pad_remove_probe (self->sink_internal, id);
}

/* Downstream's caps may have changed: follow them. */
static GstPadProbeReturn
src_event_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstSpiceEncBin *self = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstCaps *peer = NULL;
  gint want, current;

  if (GST_EVENT_TYPE (event) != GST_EVENT_RECONFIGURE)
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&self->lock);
  if (self->flushing) {
    /* READY -> PAUSED chooses anew. */
    g_mutex_unlock (&self->lock);
    return GST_PAD_PROBE_OK;
  }
  g_mutex_unlock (&self->lock);

  want = choose_branch (self, &peer);
  if (want < 0) {
    g_mutex_lock (&self->lock);
    current = self->current;
    g_mutex_unlock (&self->lock);
    warn_no_codec (self, peer, current);
    gst_caps_unref (peer);
    return GST_PAD_PROBE_OK;
  }
  /* A branch on its way out need not renegotiate: the new one will. */
  return request_branch (self, want) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* Downstream asks what we can produce: every configured codec, not only the
 * current branch's (spicesink decides from this whether we can follow a
 * client). */
static gboolean
src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS) {
    GstCaps *filter, *caps = offered_caps (self);

    gst_query_parse_caps (query, &filter);
    if (filter) {
      GstCaps *tmp = gst_caps_intersect_full (filter, caps,
          GST_CAPS_INTERSECT_FIRST);

      gst_caps_unref (caps);
      caps = tmp;
    }
    gst_query_set_caps_result (query, caps);
    gst_caps_unref (caps);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* ------------------------------------------------------------------------ */
/* State changes                                                            */

static void
clear_branches (GstSpiceEncBin * self)
{
  GstElement *branch[N_CODECS];
  gint current;
  guint i;

  g_mutex_lock (&self->lock);
  memcpy (branch, self->branch, sizeof (branch));
  memset (self->branch, 0, sizeof (self->branch));
  current = self->current;
  self->current = -1;
  self->n_order = 0;
  g_mutex_unlock (&self->lock);

  if (current >= 0) {
    gst_element_set_state (branch[current], GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), branch[current]);
  }
  for (i = 0; i < N_CODECS; i++)
    if (branch[i])
      gst_object_unref (branch[i]);
}

/* NULL -> READY: every branch of `codecs`, parsed. */
static gboolean
make_branches (GstSpiceEncBin * self)
{
  GstElement *branch[N_CODECS] = { NULL, };
  gchar *encoder[N_CODECS];
  gchar *codecs, *bad = NULL;
  Codec order[N_CODECS];
  GError *error = NULL;
  guint n, i;
  Codec c = 0;

  GST_OBJECT_LOCK (self);
  codecs = g_strdup (self->codecs);
  for (i = 0; i < N_CODECS; i++)
    encoder[i] = g_strdup (self->encoder[i]);
  GST_OBJECT_UNLOCK (self);

  if (!parse_codecs (codecs, order, &n, &bad))
    goto unknown_codec;
  if (n == 0)
    goto no_codecs;
  for (i = 0; i < n; i++) {
    GstPad *sink, *src;
    gchar *name;

    c = order[i];
    if (!encoder[c] || !*encoder[c])
      goto no_encoder;
    branch[c] = gst_parse_bin_from_description_full (encoder[c], TRUE, NULL,
        GST_PARSE_FLAG_FATAL_ERRORS, &error);
    if (!branch[c])
      goto parse_failed;
    gst_object_ref_sink (branch[c]);
    sink = gst_element_get_static_pad (branch[c], "sink");
    src = gst_element_get_static_pad (branch[c], "src");
    if (sink)
      gst_object_unref (sink);
    if (src)
      gst_object_unref (src);
    if (!sink || !src)
      goto no_pads;
    name = g_strdup_printf ("%s-branch", codec_names[c]);
    gst_object_set_name (GST_OBJECT (branch[c]), name);
    g_free (name);
  }

  g_mutex_lock (&self->lock);
  memcpy (self->branch, branch, sizeof (branch));
  memcpy (self->order, order, sizeof (order));
  self->n_order = n;
  self->current = -1;
  self->switches = 0;
  g_mutex_unlock (&self->lock);
  GST_DEBUG_OBJECT (self, "branches for %s", codecs);
  g_free (codecs);
  for (i = 0; i < N_CODECS; i++)
    g_free (encoder[i]);
  return TRUE;

  /* ERRORS */
unknown_codec:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Unknown codec \"%s\" in \"codecs\" (known: h264, vp8, mjpeg, h265, "
            "vp9).", bad), ("codecs=%s", codecs));
    g_free (bad);
    goto failed;
  }
no_codecs:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("\"codecs\" names no codec."), (NULL));
    goto failed;
  }
no_encoder:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("\"codecs\" lists %s but \"%s-encoder\" is empty.", codec_names[c],
            codec_names[c]), ("codecs=%s", codecs));
    goto failed;
  }
parse_failed:
  {
    if (g_error_matches (error, GST_PARSE_ERROR,
            GST_PARSE_ERROR_NO_SUCH_ELEMENT))
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
          ("\"%s-encoder\" names an element that is not installed: %s",
              codec_names[c], error->message), ("%s", encoder[c]));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("\"%s-encoder\" is not a valid pipeline description: %s",
              codec_names[c], error->message), ("%s", encoder[c]));
    g_clear_error (&error);
    goto failed;
  }
no_pads:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("\"%s-encoder\" must leave one raw video input and one encoded "
            "output unlinked.", codec_names[c]), ("%s", encoder[c]));
    goto failed;
  }
failed:
  {
    for (i = 0; i < N_CODECS; i++) {
      if (branch[i])
        gst_object_unref (branch[i]);
      g_free (encoder[i]);
    }
    g_free (codecs);
    return FALSE;
  }
}

/* READY -> PAUSED: the branch for downstream as it is now, before any
 * buffer. */
static void
choose_initial_branch (GstSpiceEncBin * self)
{
  GstCaps *peer = NULL;
  gint want = choose_branch (self, &peer);

  if (want < 0) {
    g_mutex_lock (&self->lock);
    want = self->current >= 0 ? self->current : (gint) self->order[0];
    g_mutex_unlock (&self->lock);
    warn_no_codec (self, peer, want);
    gst_caps_unref (peer);
  }
  g_mutex_lock (&self->lock);
  self->pending = want;
  g_mutex_unlock (&self->lock);
  run_swaps (self, FALSE);
}

static GstStateChangeReturn
gst_spice_enc_bin_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!make_branches (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      choose_initial_branch (self);
      g_mutex_lock (&self->lock);
      self->flushing = FALSE;
      g_mutex_unlock (&self->lock);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* No swap from here on; one under way finishes first. */
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      while (self->swapping)
        g_cond_wait (&self->cond, &self->lock);
      g_mutex_unlock (&self->lock);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (ret == GST_STATE_CHANGE_FAILURE)
        clear_branches (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* The pads are inactive: a probe that has not run never will. */
      remove_idle_probe (self);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      clear_branches (self);
      break;
    default:
      break;
  }
  return ret;
}

/* ------------------------------------------------------------------------ */
/* GObject                                                                  */

static void
gst_spice_enc_bin_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CODECS:
      g_free (self->codecs);
      self->codecs = g_value_dup_string (value);
      break;
    case PROP_H264_ENCODER:
    case PROP_VP8_ENCODER:
    case PROP_MJPEG_ENCODER:
    case PROP_H265_ENCODER:
    case PROP_VP9_ENCODER:
      g_free (self->encoder[prop_id - PROP_H264_ENCODER]);
      self->encoder[prop_id - PROP_H264_ENCODER] = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_enc_bin_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (object);

  switch (prop_id) {
    case PROP_CODEC:
      g_mutex_lock (&self->lock);
      g_value_set_string (value, self->current >= 0 ?
          codec_names[self->current] : "none");
      g_mutex_unlock (&self->lock);
      return;
    case PROP_SWITCHES:
      g_mutex_lock (&self->lock);
      g_value_set_uint (value, self->switches);
      g_mutex_unlock (&self->lock);
      return;
    default:
      break;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CODECS:
      g_value_set_string (value, self->codecs);
      break;
    case PROP_H264_ENCODER:
    case PROP_VP8_ENCODER:
    case PROP_MJPEG_ENCODER:
    case PROP_H265_ENCODER:
    case PROP_VP9_ENCODER:
      g_value_set_string (value, self->encoder[prop_id - PROP_H264_ENCODER]);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_enc_bin_dispose (GObject * object)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (object);

  /* In NULL: the branches are cleared already. */
  clear_branches (self);
  gst_clear_object (&self->sink_internal);
  gst_clear_object (&self->src_internal);
  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_spice_enc_bin_finalize (GObject * object)
{
  GstSpiceEncBin *self = GST_SPICE_ENC_BIN (object);
  guint i;

  g_free (self->codecs);
  for (i = 0; i < N_CODECS; i++)
    g_free (self->encoder[i]);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_spice_enc_bin_init (GstSpiceEncBin * self)
{
  GstPadTemplate *tmpl;

  self->codecs = g_strdup (DEFAULT_CODECS);
  self->encoder[CODEC_H264] = g_strdup (DEFAULT_H264_ENCODER);
  self->encoder[CODEC_VP8] = g_strdup (DEFAULT_VP8_ENCODER);
  self->encoder[CODEC_MJPEG] = g_strdup (DEFAULT_MJPEG_ENCODER);
  self->current = -1;
  self->pending = -1;
  self->flushing = TRUE;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);

  tmpl = gst_static_pad_template_get (&sink_template);
  self->sinkpad = gst_ghost_pad_new_no_target_from_template ("sink", tmpl);
  gst_object_unref (tmpl);
  tmpl = gst_static_pad_template_get (&src_template);
  self->srcpad = gst_ghost_pad_new_no_target_from_template ("src", tmpl);
  gst_object_unref (tmpl);
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (src_query));
  self->sink_internal =
      GST_PAD (gst_proxy_pad_get_internal (GST_PROXY_PAD (self->sinkpad)));
  self->src_internal =
      GST_PAD (gst_proxy_pad_get_internal (GST_PROXY_PAD (self->srcpad)));
  gst_pad_add_probe (self->srcpad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      src_event_probe, self, NULL);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_spice_enc_bin_class_init (GstSpiceEncBinClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_spice_enc_bin_set_property;
  gobject_class->get_property = gst_spice_enc_bin_get_property;
  gobject_class->dispose = gst_spice_enc_bin_dispose;
  gobject_class->finalize = gst_spice_enc_bin_finalize;

  /**
   * GstSpiceEncBin:codecs:
   *
   * The codecs the bin may use, most preferred first, comma-separated:
   * h264, vp8, mjpeg, h265, vp9. Each needs its branch property. Read when
   * the element goes from NULL to READY.
   */
  properties[PROP_CODECS] = g_param_spec_string ("codecs", "Codecs",
      "Codecs to offer, most preferred first (h264, vp8, mjpeg, h265, vp9; "
      "comma-separated; each needs its <codec>-encoder; read at NULL to "
      "READY)", DEFAULT_CODECS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:h264-encoder:
   *
   * The H.264 branch: a gst-launch description from raw video to H.264
   * byte-stream in access units, with one unlinked sink and src pad.
   * Defaults to x264enc tuned for latency, behind videoconvert.
   */
  properties[PROP_H264_ENCODER] = g_param_spec_string ("h264-encoder",
      "H.264 encoder",
      "gst-launch description of the H.264 branch, raw video in, "
      "byte-stream/au out (read at NULL to READY)", DEFAULT_H264_ENCODER,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:vp8-encoder:
   *
   * The VP8 branch (spice-html5 decodes VP8): raw video in, video/x-vp8
   * out. Defaults to vp8enc in real-time mode, behind videoconvert.
   */
  properties[PROP_VP8_ENCODER] = g_param_spec_string ("vp8-encoder",
      "VP8 encoder",
      "gst-launch description of the VP8 branch, raw video in, VP8 out "
      "(read at NULL to READY)", DEFAULT_VP8_ENCODER,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:mjpeg-encoder:
   *
   * The MJPEG branch (every SPICE client decodes it; spice-server always
   * lists it): raw video in, image/jpeg out.
   */
  properties[PROP_MJPEG_ENCODER] = g_param_spec_string ("mjpeg-encoder",
      "MJPEG encoder",
      "gst-launch description of the MJPEG branch, raw video in, JPEG out "
      "(read at NULL to READY)", DEFAULT_MJPEG_ENCODER,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:h265-encoder:
   *
   * The H.265 branch, byte-stream in access units. Empty by default: add
   * h265 to #GstSpiceEncBin:codecs and set this to offer it.
   */
  properties[PROP_H265_ENCODER] = g_param_spec_string ("h265-encoder",
      "H.265 encoder",
      "gst-launch description of the H.265 branch, raw video in, "
      "byte-stream/au out (empty: not offered)", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:vp9-encoder:
   *
   * The VP9 branch. Empty by default: add vp9 to #GstSpiceEncBin:codecs and
   * set this to offer it.
   */
  properties[PROP_VP9_ENCODER] = g_param_spec_string ("vp9-encoder",
      "VP9 encoder",
      "gst-launch description of the VP9 branch, raw video in, VP9 out "
      "(empty: not offered)", NULL,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:codec:
   *
   * The current branch's codec, "none" before the element first goes to
   * PAUSED. Notified on every change.
   */
  properties[PROP_CODEC] = g_param_spec_string ("codec", "Codec",
      "The current branch's codec (none before PAUSED)", "none",
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * GstSpiceEncBin:switches:
   *
   * How many times the bin switched branches since NULL -> READY (the
   * first choice is not a switch).
   */
  properties[PROP_SWITCHES] = g_param_spec_uint ("switches", "Switches",
      "How many times the branch was switched since the element started", 0,
      G_MAXUINT, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (gobject_class, N_PROPERTIES, properties);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "SPICE encoder bin",
      "Codec/Encoder/Video",
      "Serve each SPICE client a codec it decodes: encodes raw video with one "
      "of several encoder branches (codecs, <codec>-encoder) and switches "
      "branches when downstream (spicesink) asks for another codec",
      "OSVDI developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_enc_bin_change_state);

  GST_DEBUG_CATEGORY_INIT (gst_spice_enc_bin_debug, "spiceencbin", 0,
      "SPICE encoder bin");
}
