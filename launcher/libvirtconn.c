/* OSVDI launcher - the connection to libvirt
 * SPDX-License-Identifier: Apache-2.0
 *
 * Threads: libvirt's event loop runs on a thread of its own (as in
 * libvirt's examples/c/misc/event-test.c); its callbacks only queue a job.
 * Jobs run one at a time, in order, on the executor, a thread of its own:
 * a libvirtd that hangs (stopped, overloaded, a dead peer that keepalive
 * has not yet given up on) holds up only the jobs behind it, never the
 * main loop, so children are still supervised and SIGTERM still stops
 * them. Results are queued for the main loop, which runs their done
 * callbacks in the same order. conn, lifecycle_id and generation belong to
 * the executor; reconnect_*, events and stopped to the main loop; the
 * executor_* fields to executor_lock.
 */
#include "libvirtconn.h"
#include "log.h"

#include <stdlib.h>
#include <gio/gio.h>
#include <libvirt/virterror.h>

#define RECONNECT_FIRST_MS 500
#define RECONNECT_MAX_MS 30000

struct _OsvdiLibvirtConn
{
  gchar *uri;
  OsvdiLibvirtConnEvents events;
  gpointer data;
  GMainContext *ctx;
  GAsyncQueue *jobs, *results;
  GSource *results_source;

  GThread *executor;
  GMutex executor_lock;
  GCond executor_cond;
  gboolean executor_done;       /* the quit job ran: conn is closed */

  /* executor */
  virConnectPtr conn;
  gint lifecycle_id;
  guint generation;             /* one per connection */

  /* main loop */
  guint reconnect_source;
  guint reconnect_ms;
  gboolean stopped;

  GThread *event_thread;
  gint events_quit;
};

typedef struct
{
  OsvdiLibvirtJobFunc func;
  OsvdiLibvirtJobDone done;
  gpointer data;
  GDestroyNotify free;
  gboolean quit;                /* the executor's last job */
} Job;

static void
job_free (Job * job)
{
  if (job->free)
    job->free (job->data);
  g_free (job);
}

/* ------------------------------------------------------------------------ */
/* A source that dispatches while its queue has something                   */

typedef struct
{
  GSource source;
  GAsyncQueue *queue;
} QueueSource;

static gboolean
queue_source_prepare (GSource * source, gint * timeout)
{
  *timeout = -1;
  return g_async_queue_length (((QueueSource *) source)->queue) > 0;
}

static gboolean
queue_source_check (GSource * source)
{
  return g_async_queue_length (((QueueSource *) source)->queue) > 0;
}

static gboolean
queue_source_dispatch (GSource * source, GSourceFunc callback, gpointer data)
{
  return callback (data);
}

static GSourceFuncs queue_source_funcs = {
  queue_source_prepare, queue_source_check, queue_source_dispatch, NULL,
  NULL, NULL
};

static GSource *
queue_source_new (GMainContext * ctx, GAsyncQueue * queue,
    GSourceFunc callback, gpointer data)
{
  GSource *source = g_source_new (&queue_source_funcs, sizeof (QueueSource));

  ((QueueSource *) source)->queue = queue;
  g_source_set_callback (source, callback, data, NULL);
  g_source_attach (source, ctx);
  return source;
}

/* ------------------------------------------------------------------------ */
/* Jobs                                                                     */

static void
push_job (OsvdiLibvirtConn * lc, OsvdiLibvirtJobFunc func,
    OsvdiLibvirtJobDone done, gpointer data, GDestroyNotify free)
{
  Job *job = g_new0 (Job, 1);

  job->func = func;
  job->done = done;
  job->data = data;
  job->free = free;
  g_async_queue_push (lc->jobs, job);
  g_main_context_wakeup (lc->ctx);
}

static void teardown (OsvdiLibvirtConn * lc);

/* The executor: every job in order, then (quit) the connection closed. */
static gpointer
executor (gpointer data)
{
  OsvdiLibvirtConn *lc = data;

  for (;;) {
    Job *job = g_async_queue_pop (lc->jobs);

    if (job->quit) {
      g_free (job);
      break;
    }
    if (job->func)
      job->func (lc->conn, job->data);
    g_async_queue_push (lc->results, job);
    g_main_context_wakeup (lc->ctx);
  }
  if (lc->conn)
    teardown (lc);
  g_mutex_lock (&lc->executor_lock);
  lc->executor_done = TRUE;
  g_cond_signal (&lc->executor_cond);
  g_mutex_unlock (&lc->executor_lock);
  return NULL;
}

static gboolean
deliver_results (gpointer data)
{
  OsvdiLibvirtConn *lc = data;
  Job *job;

  while ((job = g_async_queue_try_pop (lc->results))) {
    if (job->done && !lc->stopped)
      job->done (job->data);
    job_free (job);
  }
  return G_SOURCE_CONTINUE;
}

void
osvdi_libvirt_conn_submit (OsvdiLibvirtConn * lc, OsvdiLibvirtJobFunc func,
    OsvdiLibvirtJobDone done, gpointer data, GDestroyNotify free)
{
  if (lc->stopped) {
    if (free)
      free (data);
    return;
  }
  push_job (lc, func, done, data, free);
}

/* ------------------------------------------------------------------------ */
/* Domain events                                                            */

typedef struct
{
  OsvdiLibvirtConn *lc;
  gchar *uuid;
  gint event;
  gchar *xml;                   /* STARTED: the live XML, if it runs */
} DomainJob;

static void
domain_job_free (gpointer data)
{
  DomainJob *dj = data;

  g_free (dj->uuid);
  g_free (dj->xml);
  g_free (dj);
}

/* The live XML of a running domain, or NULL. */
static gchar *
running_xml (virConnectPtr conn, virDomainPtr dom, const gchar * uuid)
{
  gchar *xml = NULL;
  char *x;

  if (virDomainIsActive (dom) != 1)
    return NULL;
  x = virDomainGetXMLDesc (dom, 0);
  if (!x) {
    LOG_WARN ("%s: cannot read the domain XML: %s", uuid,
        virGetLastErrorMessage ());
    return NULL;
  }
  xml = g_strdup (x);
  free (x);
  return xml;
}

static void
domain_job_run (virConnectPtr conn, gpointer data)
{
  DomainJob *dj = data;
  virDomainPtr dom;

  if (!conn || (dj->event != VIR_DOMAIN_EVENT_STARTED
          && dj->event != VIR_DOMAIN_EVENT_RESUMED))
    return;
  dom = virDomainLookupByUUIDString (conn, dj->uuid);
  if (!dom)
    return;
  dj->xml = running_xml (conn, dom, dj->uuid);
  virDomainFree (dom);
}

static void
domain_job_done (gpointer data)
{
  DomainJob *dj = data;
  OsvdiLibvirtConn *lc = dj->lc;

  switch (dj->event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
      if (dj->xml)
        lc->events.domain_started (dj->uuid, dj->xml, lc->data);
      break;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_SHUTDOWN:
    case VIR_DOMAIN_EVENT_CRASHED:
      lc->events.domain_stopped (dj->uuid,
          dj->event == VIR_DOMAIN_EVENT_CRASHED, lc->data);
      break;
    case VIR_DOMAIN_EVENT_UNDEFINED:
      lc->events.domain_undefined (dj->uuid, lc->data);
      break;
    default:
      break;
  }
}

static void
queue_domain_job (OsvdiLibvirtConn * lc, const gchar * uuid, gint event)
{
  DomainJob *dj = g_new0 (DomainJob, 1);

  dj->lc = lc;
  dj->uuid = g_strdup (uuid);
  dj->event = event;
  push_job (lc, domain_job_run, domain_job_done, dj, domain_job_free);
}

/* libvirt's event thread: only hand over. */
static int
lifecycle_cb (virConnectPtr conn, virDomainPtr dom, int event, int detail,
    void *opaque)
{
  char uuid[VIR_UUID_STRING_BUFLEN];

  if (virDomainGetUUIDString (dom, uuid) == 0)
    queue_domain_job (opaque, uuid, event);
  return 0;
}

void
osvdi_libvirt_conn_refresh (OsvdiLibvirtConn * lc, const gchar * uuid)
{
  if (!lc->stopped)
    queue_domain_job (lc, uuid, VIR_DOMAIN_EVENT_STARTED);
}

/* ------------------------------------------------------------------------ */
/* Connect, lose, reconnect                                                 */

typedef struct
{
  OsvdiLibvirtConn *lc;
  guint generation;
} CloseCtx;

static void schedule_reconnect (OsvdiLibvirtConn * lc);
static void close_cb (virConnectPtr conn, int reason, void *opaque);

/* Executor: the connection is over (lost, or the launcher stops).
 *
 * Every callback holds a reference on the connection, and a dead
 * connection does not drop them: virConnectClose then leaves it alive (it
 * returns the references left). libvirt 9.0 (datatypes.c, remote driver):
 * - the close callback's reference is dropped by libvirt once the callback
 *   has run; unregistering it on a dead connection fails at once ("client
 *   socket is closed") and changes nothing;
 * - a domain event callback keeps its reference until deregistered; on a
 *   dead connection the deregistration drops it locally first, then fails
 *   at once on the RPC.
 * So both are always undone, and the errors of a dead connection ignored.
 * On a live but hung connection these calls wait for libvirtd (or its
 * keepalive): that is why they run here, off the main loop. */
static void
teardown (OsvdiLibvirtConn * lc)
{
  gboolean alive = virConnectIsAlive (lc->conn) == 1;
  gint refs;

  if (lc->lifecycle_id >= 0
      && virConnectDomainEventDeregisterAny (lc->conn, lc->lifecycle_id) < 0
      && alive)
    LOG_WARN ("cannot stop following domain events: %s",
        virGetLastErrorMessage ());
  if (virConnectUnregisterCloseCallback (lc->conn, close_cb) < 0 && alive)
    LOG_WARN ("cannot unregister the close callback: %s",
        virGetLastErrorMessage ());
  refs = virConnectClose (lc->conn);
  LOG_DEBUG ("closed the connection to %s: %d references left", lc->uri,
      refs);
  if (refs != 0)
    LOG_WARN ("the connection to %s is still referenced %d times after "
        "closing: it leaks", lc->uri, refs);
  lc->conn = NULL;
  lc->lifecycle_id = -1;
}

typedef struct
{
  OsvdiLibvirtConn *lc;
  guint generation;
  gboolean closed;
} ClosedJob;

static void
closed_job_run (virConnectPtr conn, gpointer data)
{
  ClosedJob *cj = data;
  OsvdiLibvirtConn *lc = cj->lc;

  if (!lc->conn || cj->generation != lc->generation)
    return;                     /* an earlier connection's */
  LOG_WARN ("lost the connection to %s", lc->uri);
  teardown (lc);
  cj->closed = TRUE;
}

static void
closed_job_done (gpointer data)
{
  ClosedJob *cj = data;

  if (cj->closed)
    schedule_reconnect (cj->lc);
}

static void
close_cb (virConnectPtr conn, int reason, void *opaque)
{
  CloseCtx *cc = opaque;
  ClosedJob *cj = g_new0 (ClosedJob, 1);

  /* Any thread (libvirt's event thread, or a job's call that found the
   * socket closed): only hand over. */
  cj->lc = cc->lc;
  cj->generation = cc->generation;
  push_job (cc->lc, closed_job_run, closed_job_done, cj, g_free);
}

typedef struct
{
  OsvdiLibvirtConn *lc;
  gboolean connected;
  GPtrArray *running;           /* NULL: could not list them */
} ConnectJob;

static void
connect_job_free (gpointer data)
{
  ConnectJob *cj = data;

  if (cj->running)
    g_ptr_array_unref (cj->running);
  g_free (cj);
}

static GPtrArray *
list_running (virConnectPtr conn)
{
  virDomainPtr *doms = NULL;
  GPtrArray *running;
  gint n, i;

  n = virConnectListAllDomains (conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0) {
    LOG_WARN ("cannot list domains: %s", virGetLastErrorMessage ());
    return NULL;
  }
  running = g_ptr_array_new_with_free_func ((GDestroyNotify)
      osvdi_running_domain_free);
  for (i = 0; i < n; i++) {
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (virDomainGetUUIDString (doms[i], uuid) == 0) {
      OsvdiRunningDomain *d = g_new0 (OsvdiRunningDomain, 1);

      d->uuid = g_strdup (uuid);
      /* NULL when unreadable: still running, so its session stays. */
      d->xml = running_xml (conn, doms[i], uuid);
      g_ptr_array_add (running, d);
    }
    virDomainFree (doms[i]);
  }
  free (doms);
  return running;
}

static void
connect_job_run (virConnectPtr unused, gpointer data)
{
  ConnectJob *cj = data;
  OsvdiLibvirtConn *lc = cj->lc;
  CloseCtx *cc;

  if (lc->conn)
    return;
  lc->conn = virConnectOpen (lc->uri);
  if (!lc->conn) {
    LOG_WARN ("cannot connect to %s: %s", lc->uri,
        virGetLastErrorMessage ());
    return;
  }
  lc->generation++;
  if (virConnectSetKeepAlive (lc->conn, 5, 3) < 0)
    LOG_WARN ("no keepalive on %s: %s", lc->uri, virGetLastErrorMessage ());
  cc = g_new0 (CloseCtx, 1);
  cc->lc = lc;
  cc->generation = lc->generation;
  if (virConnectRegisterCloseCallback (lc->conn, close_cb, cc, g_free) < 0) {
    LOG_WARN ("no close callback on %s: %s", lc->uri,
        virGetLastErrorMessage ());
    g_free (cc);
  }
  lc->lifecycle_id = virConnectDomainEventRegisterAny (lc->conn, NULL,
      VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (lifecycle_cb),
      lc, NULL);
  if (lc->lifecycle_id < 0) {
    LOG_WARN ("cannot follow domain events on %s: %s", lc->uri,
        virGetLastErrorMessage ());
    teardown (lc);
    return;
  }
  cj->connected = TRUE;
  LOG_INFO ("connected to %s", lc->uri);
  /* Events from here on are queued behind this job: none is missed, and
   * none is older than the list. */
  cj->running = list_running (lc->conn);
}

static void
connect_job_done (gpointer data)
{
  ConnectJob *cj = data;
  OsvdiLibvirtConn *lc = cj->lc;

  if (!cj->connected) {
    schedule_reconnect (lc);
    return;
  }
  lc->reconnect_ms = RECONNECT_FIRST_MS;
  if (cj->running)
    lc->events.reconcile (cj->running, lc->data);
}

static void
queue_connect (OsvdiLibvirtConn * lc)
{
  ConnectJob *cj = g_new0 (ConnectJob, 1);

  cj->lc = lc;
  push_job (lc, connect_job_run, connect_job_done, cj, connect_job_free);
}

static gboolean
on_reconnect (gpointer data)
{
  OsvdiLibvirtConn *lc = data;

  lc->reconnect_source = 0;
  queue_connect (lc);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (OsvdiLibvirtConn * lc)
{
  if (lc->stopped || lc->reconnect_source)
    return;
  LOG_INFO ("reconnecting to %s in %u ms", lc->uri, lc->reconnect_ms);
  lc->reconnect_source = g_timeout_add (lc->reconnect_ms, on_reconnect, lc);
  lc->reconnect_ms = MIN (lc->reconnect_ms * 2, RECONNECT_MAX_MS);
}

/* ------------------------------------------------------------------------ */
/* libvirt's event thread                                                   */

static gpointer
event_thread (gpointer data)
{
  OsvdiLibvirtConn *lc = data;

  while (!g_atomic_int_get (&lc->events_quit))
    if (virEventRunDefaultImpl () < 0)
      LOG_WARN ("libvirt event loop: %s", virGetLastErrorMessage ());
  return NULL;
}

static void
event_wake (int timer, void *opaque)
{
}

static void
silence_libvirt_errors (void *data, virErrorPtr err)
{
  /* Errors are reported where they matter, with virGetLastErrorMessage. */
}

/* ------------------------------------------------------------------------ */

OsvdiLibvirtConn *
osvdi_libvirt_conn_new (const gchar * uri, GError ** error)
{
  OsvdiLibvirtConn *lc;

  virSetErrorFunc (NULL, silence_libvirt_errors);
  if (virEventRegisterDefaultImpl () < 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "cannot set up libvirt's event loop: %s", virGetLastErrorMessage ());
    return NULL;
  }
  lc = g_new0 (OsvdiLibvirtConn, 1);
  lc->uri = g_strdup (uri);
  lc->ctx = g_main_context_ref_thread_default ();
  lc->jobs = g_async_queue_new ();
  lc->results = g_async_queue_new ();
  lc->lifecycle_id = -1;
  lc->reconnect_ms = RECONNECT_FIRST_MS;
  g_mutex_init (&lc->executor_lock);
  g_cond_init (&lc->executor_cond);
  lc->event_thread = g_thread_new ("libvirt-events", event_thread, lc);
  return lc;
}

void
osvdi_libvirt_conn_start (OsvdiLibvirtConn * lc,
    const OsvdiLibvirtConnEvents * events, gpointer data)
{
  lc->events = *events;
  lc->data = data;
  lc->results_source = queue_source_new (lc->ctx, lc->results,
      deliver_results, lc);
  lc->executor = g_thread_new ("libvirt-jobs", executor, lc);
  queue_connect (lc);
}

gboolean
osvdi_libvirt_conn_stop (OsvdiLibvirtConn * lc, guint timeout_ms)
{
  Job *job;
  gint wake;
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean done = TRUE;

  lc->stopped = TRUE;
  if (lc->reconnect_source) {
    g_source_remove (lc->reconnect_source);
    lc->reconnect_source = 0;
  }
  while ((job = g_async_queue_try_pop (lc->jobs)))
    job_free (job);
  if (lc->executor) {
    /* The executor closes the connection after the job it may be in: a
     * hung libvirtd is waited for until @deadline, then abandoned. */
    job = g_new0 (Job, 1);
    job->quit = TRUE;
    g_async_queue_push (lc->jobs, job);
    g_mutex_lock (&lc->executor_lock);
    while (!lc->executor_done && done)
      done = g_cond_wait_until (&lc->executor_cond, &lc->executor_lock,
          deadline) || lc->executor_done;
    g_mutex_unlock (&lc->executor_lock);
    if (!done) {
      LOG_WARN ("libvirt did not answer within %u ms", timeout_ms);
      return FALSE;
    }
    g_thread_join (lc->executor);
    lc->executor = NULL;
  }

  /* As libvirt's event-test.c: no callbacks left, then stop the loop. */
  g_atomic_int_set (&lc->events_quit, 1);
  wake = virEventAddTimeout (0, event_wake, NULL, NULL);
  if (wake >= 0) {
    g_thread_join (lc->event_thread);
    virEventRemoveTimeout (wake);
  } else {
    LOG_WARN ("cannot wake libvirt's event thread: %s",
        virGetLastErrorMessage ());
    g_thread_unref (lc->event_thread);
  }
  lc->event_thread = NULL;
  return TRUE;
}

void
osvdi_libvirt_conn_free (OsvdiLibvirtConn * lc)
{
  Job *job;

  if (!lc)
    return;
  if (lc->results_source) {
    g_source_destroy (lc->results_source);
    g_source_unref (lc->results_source);
  }
  while ((job = g_async_queue_try_pop (lc->jobs)))
    job_free (job);
  while ((job = g_async_queue_try_pop (lc->results)))
    job_free (job);
  g_async_queue_unref (lc->jobs);
  g_async_queue_unref (lc->results);
  g_main_context_unref (lc->ctx);
  g_mutex_clear (&lc->executor_lock);
  g_cond_clear (&lc->executor_cond);
  g_free (lc->uri);
  g_free (lc);
}

void
osvdi_running_domain_free (OsvdiRunningDomain * d)
{
  g_free (d->uuid);
  g_free (d->xml);
  g_free (d);
}
