/* OSVDI launcher - the life of one VM's desktop session, as pure code
 * SPDX-License-Identifier: Apache-2.0
 *
 * No libvirt, no processes, no clocks, no main loop: the launcher feeds in
 * what happened (the VM started or stopped, the child exited, a timer
 * fired) with the time it happened, and gets back what to do. The
 * supervisor (supervisor.c) carries the actions out.
 *
 *   NEW --BEGIN--> STARTING --playing--> RUNNING
 *   STARTING/RUNNING --child exited--> BACKOFF (restart timer) or FAILED
 *   BACKOFF --restart timer--> STARTING
 *   STARTING/RUNNING --VM stopped--> STOPPING --child exited--> GONE
 *   STOPPING --VM started--> RESTART_PENDING --child exited--> GONE + RENEW
 *   BACKOFF/FAILED --VM stopped--> GONE
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  OSVDI_SESSION_NEW,            /* set up (port, ticket, pipeline), not begun */
  OSVDI_SESSION_STARTING,       /* a child runs (or is being started), not playing */
  OSVDI_SESSION_RUNNING,        /* the child said "playing" */
  OSVDI_SESSION_BACKOFF,        /* no child; the restart timer runs */
  OSVDI_SESSION_FAILED,         /* gave up, or could not be set up; no child */
  OSVDI_SESSION_STOPPING,       /* the child was told to stop */
  OSVDI_SESSION_RESTART_PENDING,        /* stopping, and the VM runs again */
  OSVDI_SESSION_GONE,           /* over: forget it */
} OsvdiSessionState;

typedef enum
{
  OSVDI_SESSION_BEGIN,          /* set up: start the child */
  OSVDI_SESSION_SETUP_FAILED,   /* could not be set up: stays without a child */
  OSVDI_SESSION_DOMAIN_STARTED, /* started or resumed, or running at reconcile */
  OSVDI_SESSION_DOMAIN_STOPPED, /* stopped, shut down, crashed, or gone at
                                 * reconcile */
  /* Undefining a running domain leaves it running (transient): no action
   * in any state; fed so that the choice is written down and tested. */
  OSVDI_SESSION_DOMAIN_UNDEFINED,
  OSVDI_SESSION_SHUTDOWN,       /* the launcher stops: as DOMAIN_STOPPED */
  OSVDI_SESSION_CHILD_PLAYING,  /* the child's pipeline reached PLAYING */
  OSVDI_SESSION_CHILD_EXITED,   /* the child is gone, or could not start */
  OSVDI_SESSION_RESTART_TIMER,  /* the backoff delay is over */
  OSVDI_SESSION_KILL_TIMER,     /* a stopping child did not stop in time */
} OsvdiSessionInput;

/* What to do, in this order when several are set. */
typedef enum
{
  OSVDI_SESSION_ACT_CANCEL_RESTART = 1 << 0,    /* disarm the restart timer */
  OSVDI_SESSION_ACT_WITHDRAW = 1 << 1,  /* remove the .vv file and metadata */
  OSVDI_SESSION_ACT_RELEASE_PORTS = 1 << 2,     /* others may have them */
  OSVDI_SESSION_ACT_PUBLISH = 1 << 3,   /* write the .vv file and metadata */
  OSVDI_SESSION_ACT_TERMINATE = 1 << 4, /* SIGTERM (EOS), arm the kill timer */
  OSVDI_SESSION_ACT_KILL = 1 << 5,      /* SIGKILL */
  OSVDI_SESSION_ACT_SPAWN = 1 << 6,     /* start a child */
  OSVDI_SESSION_ACT_SCHEDULE_RESTART = 1 << 7,  /* arm the restart timer */
  OSVDI_SESSION_ACT_REMOVE = 1 << 8,    /* forget the session */
  /* The VM runs again: after REMOVE, set up a new session for it (its XML
   * read anew, a new port and ticket). */
  OSVDI_SESSION_ACT_RENEW = 1 << 9,
} OsvdiSessionAction;

typedef struct
{
  guint max_restarts;           /* quick failures in a row before giving up */
  guint stable_ms;              /* a child that ran this long resets them */
  guint backoff_initial_ms;
  guint backoff_max_ms;
} OsvdiSessionPolicy;

typedef struct
{
  OsvdiSessionPolicy policy;
  OsvdiSessionState state;
  gint64 started_at;            /* µs, the caller's clock: the last SPAWN */
  guint failures;               /* quick failures in a row */
  guint backoff_ms;             /* the next restart delay */
} OsvdiSessionMachine;

typedef struct
{
  OsvdiSessionState from, to;
  guint actions;                /* OsvdiSessionAction */
  guint delay_ms;               /* SCHEDULE_RESTART: after this long */
  guint failures;               /* CHILD_EXITED: failures in a row so far */
  gboolean gave_up;             /* CHILD_EXITED: to FAILED */
  gint64 ran_us;                /* CHILD_EXITED: how long the child ran */
} OsvdiSessionStep;

void osvdi_session_machine_init (OsvdiSessionMachine * m,
    const OsvdiSessionPolicy * policy);

/* One input at @now_us (any monotonic clock in µs, the same for every
 * call); returns what changed and what to do. Inputs that mean nothing in
 * the current state return no actions and leave it. */
OsvdiSessionStep osvdi_session_machine_feed (OsvdiSessionMachine * m,
    OsvdiSessionInput input, gint64 now_us);

/* TRUE while a child exists (or is being started). */
gboolean osvdi_session_state_has_child (OsvdiSessionState state);

const gchar *osvdi_session_state_name (OsvdiSessionState state);
const gchar *osvdi_session_input_name (OsvdiSessionInput input);

G_END_DECLS
