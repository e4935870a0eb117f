/* OSVDI launcher - the life of one VM's desktop session, as pure code
 * SPDX-License-Identifier: Apache-2.0
 */
#include "session.h"

void
osvdi_session_machine_init (OsvdiSessionMachine * m,
    const OsvdiSessionPolicy * policy)
{
  m->policy = *policy;
  m->state = OSVDI_SESSION_NEW;
  m->started_at = 0;
  m->failures = 0;
  m->backoff_ms = policy->backoff_initial_ms;
}

/* The child ended (or never started) while its VM runs: restart it after a
 * growing delay, or give up after max_restarts quick failures in a row. */
static void
child_failed (OsvdiSessionMachine * m, OsvdiSessionStep * step, gint64 now)
{
  step->ran_us = now - m->started_at;
  if (step->ran_us >= (gint64) m->policy.stable_ms * 1000) {
    m->failures = 0;
    m->backoff_ms = m->policy.backoff_initial_ms;
  }
  m->failures++;
  step->failures = m->failures;
  if (m->failures > m->policy.max_restarts) {
    step->gave_up = TRUE;
    step->actions = OSVDI_SESSION_ACT_WITHDRAW |
        OSVDI_SESSION_ACT_RELEASE_PORTS;
    m->state = OSVDI_SESSION_FAILED;
    return;
  }
  step->actions = OSVDI_SESSION_ACT_SCHEDULE_RESTART;
  step->delay_ms = m->backoff_ms;
  m->backoff_ms = MIN (m->backoff_ms * 2, m->policy.backoff_max_ms);
  m->state = OSVDI_SESSION_BACKOFF;
}

static void
spawn (OsvdiSessionMachine * m, OsvdiSessionStep * step, gint64 now)
{
  step->actions |= OSVDI_SESSION_ACT_SPAWN;
  m->started_at = now;
  m->state = OSVDI_SESSION_STARTING;
}

OsvdiSessionStep
osvdi_session_machine_feed (OsvdiSessionMachine * m, OsvdiSessionInput input,
    gint64 now)
{
  OsvdiSessionStep step = {.from = m->state };
  gboolean stop = input == OSVDI_SESSION_DOMAIN_STOPPED
      || input == OSVDI_SESSION_SHUTDOWN;

  switch (m->state) {
    case OSVDI_SESSION_NEW:
      if (input == OSVDI_SESSION_BEGIN) {
        step.actions = OSVDI_SESSION_ACT_PUBLISH;
        spawn (m, &step, now);
      } else if (input == OSVDI_SESSION_SETUP_FAILED) {
        step.actions = OSVDI_SESSION_ACT_RELEASE_PORTS;
        m->state = OSVDI_SESSION_FAILED;
      } else if (stop) {
        step.actions = OSVDI_SESSION_ACT_REMOVE;
        m->state = OSVDI_SESSION_GONE;
      }
      break;
    case OSVDI_SESSION_STARTING:
    case OSVDI_SESSION_RUNNING:
      if (input == OSVDI_SESSION_CHILD_PLAYING) {
        m->state = OSVDI_SESSION_RUNNING;
      } else if (input == OSVDI_SESSION_CHILD_EXITED) {
        child_failed (m, &step, now);
      } else if (stop) {
        /* Nobody serves the published port once the child stops. */
        step.actions = OSVDI_SESSION_ACT_WITHDRAW |
            OSVDI_SESSION_ACT_TERMINATE;
        m->state = OSVDI_SESSION_STOPPING;
      }
      /* DOMAIN_STARTED: one session per VM; a duplicate event or a
       * reconcile changes nothing. */
      break;
    case OSVDI_SESSION_BACKOFF:
      if (input == OSVDI_SESSION_RESTART_TIMER) {
        spawn (m, &step, now);
      } else if (stop) {
        step.actions = OSVDI_SESSION_ACT_CANCEL_RESTART |
            OSVDI_SESSION_ACT_WITHDRAW | OSVDI_SESSION_ACT_REMOVE;
        m->state = OSVDI_SESSION_GONE;
      }
      break;
    case OSVDI_SESSION_FAILED:
      /* Withdrawn when it failed; only the VM's stop ends it, so that a
       * resume or a reconcile does not start it over. */
      if (stop) {
        step.actions = OSVDI_SESSION_ACT_REMOVE;
        m->state = OSVDI_SESSION_GONE;
      }
      break;
    case OSVDI_SESSION_STOPPING:
      if (input == OSVDI_SESSION_CHILD_EXITED) {
        step.actions = OSVDI_SESSION_ACT_REMOVE;
        m->state = OSVDI_SESSION_GONE;
      } else if (input == OSVDI_SESSION_DOMAIN_STARTED) {
        /* A hard reboot: destroyed and started again at once. The old
         * child still holds the port; a new session once it is gone. */
        m->state = OSVDI_SESSION_RESTART_PENDING;
      } else if (input == OSVDI_SESSION_KILL_TIMER) {
        step.actions = OSVDI_SESSION_ACT_KILL;
      }
      break;
    case OSVDI_SESSION_RESTART_PENDING:
      if (input == OSVDI_SESSION_CHILD_EXITED) {
        step.actions = OSVDI_SESSION_ACT_REMOVE | OSVDI_SESSION_ACT_RENEW;
        m->state = OSVDI_SESSION_GONE;
      } else if (stop) {
        m->state = OSVDI_SESSION_STOPPING;
      } else if (input == OSVDI_SESSION_KILL_TIMER) {
        step.actions = OSVDI_SESSION_ACT_KILL;
      }
      break;
    case OSVDI_SESSION_GONE:
      break;
  }
  step.to = m->state;
  return step;
}

gboolean
osvdi_session_state_has_child (OsvdiSessionState state)
{
  return state == OSVDI_SESSION_STARTING || state == OSVDI_SESSION_RUNNING
      || state == OSVDI_SESSION_STOPPING
      || state == OSVDI_SESSION_RESTART_PENDING;
}

const gchar *
osvdi_session_state_name (OsvdiSessionState state)
{
  switch (state) {
    case OSVDI_SESSION_NEW:
      return "new";
    case OSVDI_SESSION_STARTING:
      return "starting";
    case OSVDI_SESSION_RUNNING:
      return "running";
    case OSVDI_SESSION_BACKOFF:
      return "backoff";
    case OSVDI_SESSION_FAILED:
      return "failed";
    case OSVDI_SESSION_STOPPING:
      return "stopping";
    case OSVDI_SESSION_RESTART_PENDING:
      return "restart-pending";
    case OSVDI_SESSION_GONE:
      return "gone";
  }
  return "?";
}

const gchar *
osvdi_session_input_name (OsvdiSessionInput input)
{
  switch (input) {
    case OSVDI_SESSION_BEGIN:
      return "begin";
    case OSVDI_SESSION_SETUP_FAILED:
      return "setup-failed";
    case OSVDI_SESSION_DOMAIN_STARTED:
      return "domain-started";
    case OSVDI_SESSION_DOMAIN_STOPPED:
      return "domain-stopped";
    case OSVDI_SESSION_DOMAIN_UNDEFINED:
      return "domain-undefined";
    case OSVDI_SESSION_SHUTDOWN:
      return "shutdown";
    case OSVDI_SESSION_CHILD_PLAYING:
      return "child-playing";
    case OSVDI_SESSION_CHILD_EXITED:
      return "child-exited";
    case OSVDI_SESSION_RESTART_TIMER:
      return "restart-timer";
    case OSVDI_SESSION_KILL_TIMER:
      return "kill-timer";
  }
  return "?";
}
