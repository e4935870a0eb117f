/* OSVDI - the launcher's session state machine: every transition
 * SPDX-License-Identifier: Apache-2.0
 *
 * Time is the test's: inputs carry a made-up clock, so the backoff and
 * "stable run" rules are checked without waiting.
 */
#include <glib.h>

#include "session.h"

#define S(x) OSVDI_SESSION_##x
#define A(x) OSVDI_SESSION_ACT_##x

static const OsvdiSessionPolicy policy = {
  .max_restarts = 3,
  .stable_ms = 4000,
  .backoff_initial_ms = 300,
  .backoff_max_ms = 1000,
};

/* Feeds @input at @now_ms and checks the new state and the exact actions. */
static OsvdiSessionStep
feed (OsvdiSessionMachine * m, OsvdiSessionInput input, gint64 now_ms,
    OsvdiSessionState want_state, guint want_actions)
{
  OsvdiSessionStep st = osvdi_session_machine_feed (m, input, now_ms * 1000);

  if (st.to != want_state || st.actions != want_actions)
    g_error ("%s: %s -> %s with actions 0x%x; expected %s with 0x%x",
        osvdi_session_input_name (input), osvdi_session_state_name (st.from),
        osvdi_session_state_name (st.to), st.actions,
        osvdi_session_state_name (want_state), want_actions);
  g_assert_cmpint (m->state, ==, want_state);
  return st;
}

/* A session whose child runs and plays, started at @t_ms. */
static void
running (OsvdiSessionMachine * m, gint64 t_ms)
{
  osvdi_session_machine_init (m, &policy);
  g_assert_cmpint (m->state, ==, S (NEW));
  feed (m, S (BEGIN), t_ms, S (STARTING), A (PUBLISH) | A (SPAWN));
  feed (m, S (CHILD_PLAYING), t_ms + 10, S (RUNNING), 0);
}

static void
test_lifecycle (void)
{
  OsvdiSessionMachine m;

  running (&m, 0);
  feed (&m, S (DOMAIN_STOPPED), 100, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  /* Stopping twice (the event, then a reconcile) is one stop. */
  feed (&m, S (DOMAIN_STOPPED), 110, S (STOPPING), 0);
  feed (&m, S (CHILD_EXITED), 200, S (GONE), A (REMOVE));
  /* Over: nothing brings it back. */
  feed (&m, S (DOMAIN_STARTED), 300, S (GONE), 0);
  feed (&m, S (RESTART_TIMER), 300, S (GONE), 0);
}

static void
test_hard_reboot (void)
{
  OsvdiSessionMachine m;

  /* destroy + start at once: STARTED arrives while the old child stops. */
  running (&m, 0);
  feed (&m, S (DOMAIN_STOPPED), 100, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  /* No child yet: the old one still holds the port. */
  feed (&m, S (DOMAIN_STARTED), 101, S (RESTART_PENDING), 0);
  feed (&m, S (DOMAIN_STARTED), 102, S (RESTART_PENDING), 0);
  feed (&m, S (KILL_TIMER), 5000, S (RESTART_PENDING), A (KILL));
  /* The old child is gone: a new session (new XML, port, ticket). */
  feed (&m, S (CHILD_EXITED), 5001, S (GONE), A (REMOVE) | A (RENEW));

  /* Stopped again before the old child is gone: no new session. */
  running (&m, 0);
  feed (&m, S (DOMAIN_STOPPED), 100, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  feed (&m, S (DOMAIN_STARTED), 101, S (RESTART_PENDING), 0);
  feed (&m, S (DOMAIN_STOPPED), 102, S (STOPPING), 0);
  feed (&m, S (CHILD_EXITED), 200, S (GONE), A (REMOVE));

  /* ...nor when the launcher stops meanwhile. */
  running (&m, 0);
  feed (&m, S (DOMAIN_STOPPED), 100, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  feed (&m, S (DOMAIN_STARTED), 101, S (RESTART_PENDING), 0);
  feed (&m, S (SHUTDOWN), 102, S (STOPPING), 0);
  feed (&m, S (CHILD_EXITED), 200, S (GONE), A (REMOVE));
}

static void
test_destroy_while_starting (void)
{
  OsvdiSessionMachine m;

  osvdi_session_machine_init (&m, &policy);
  feed (&m, S (BEGIN), 0, S (STARTING), A (PUBLISH) | A (SPAWN));
  feed (&m, S (DOMAIN_STOPPED), 50, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  /* The child reaches PLAYING after the stop: the stop stands. */
  feed (&m, S (CHILD_PLAYING), 60, S (STOPPING), 0);
  feed (&m, S (CHILD_EXITED), 70, S (GONE), A (REMOVE));

  /* Its child exits on its own first, then the VM stops: a restart was
   * scheduled, and is cancelled. */
  osvdi_session_machine_init (&m, &policy);
  feed (&m, S (BEGIN), 0, S (STARTING), A (PUBLISH) | A (SPAWN));
  feed (&m, S (CHILD_EXITED), 50, S (BACKOFF), A (SCHEDULE_RESTART));
  feed (&m, S (DOMAIN_STOPPED), 60, S (GONE),
      A (CANCEL_RESTART) | A (WITHDRAW) | A (REMOVE));
}

static void
test_crash_backoff_give_up (void)
{
  OsvdiSessionMachine m;
  OsvdiSessionStep st;
  const guint delays[] = { 300, 600, 1000 };    /* doubling, capped */
  gint64 t = 0;
  guint i;

  running (&m, t);
  for (i = 0; i < G_N_ELEMENTS (delays); i++) {
    t += 100;                   /* quick failures */
    st = feed (&m, S (CHILD_EXITED), t, S (BACKOFF), A (SCHEDULE_RESTART));
    g_assert_cmpuint (st.delay_ms, ==, delays[i]);
    g_assert_cmpuint (st.failures, ==, i + 1);
    g_assert_cmpint (st.ran_us, ==, 100 * 1000);
    g_assert_false (st.gave_up);
    /* Nothing happens until the timer fires. */
    feed (&m, S (DOMAIN_STARTED), t, S (BACKOFF), 0);
    feed (&m, S (CHILD_PLAYING), t, S (BACKOFF), 0);
    feed (&m, S (RESTART_TIMER), t + delays[i], S (STARTING), A (SPAWN));
    t += delays[i];
  }
  /* The fourth quick failure in a row: give up, let others have the ports. */
  st = feed (&m, S (CHILD_EXITED), t + 100, S (FAILED),
      A (WITHDRAW) | A (RELEASE_PORTS));
  g_assert_true (st.gave_up);
  g_assert_cmpuint (st.failures, ==, 4);
  /* A failed session waits for its VM to stop: a resume, a duplicate
   * event, a stale timer do not start it over. */
  feed (&m, S (DOMAIN_STARTED), t + 200, S (FAILED), 0);
  feed (&m, S (RESTART_TIMER), t + 200, S (FAILED), 0);
  feed (&m, S (CHILD_EXITED), t + 200, S (FAILED), 0);
  feed (&m, S (DOMAIN_STOPPED), t + 300, S (GONE), A (REMOVE));
}

static void
test_stable_run_resets_failures (void)
{
  OsvdiSessionMachine m;
  OsvdiSessionStep st;

  running (&m, 0);
  st = feed (&m, S (CHILD_EXITED), 100, S (BACKOFF), A (SCHEDULE_RESTART));
  g_assert_cmpuint (st.failures, ==, 1);
  feed (&m, S (RESTART_TIMER), 400, S (STARTING), A (SPAWN));
  st = feed (&m, S (CHILD_EXITED), 500, S (BACKOFF), A (SCHEDULE_RESTART));
  g_assert_cmpuint (st.failures, ==, 2);
  g_assert_cmpuint (st.delay_ms, ==, 600);
  feed (&m, S (RESTART_TIMER), 1100, S (STARTING), A (SPAWN));
  /* Ran stable_ms: it counts as the first failure again. */
  st = feed (&m, S (CHILD_EXITED), 1100 + 4000, S (BACKOFF),
      A (SCHEDULE_RESTART));
  g_assert_cmpuint (st.failures, ==, 1);
  g_assert_cmpuint (st.delay_ms, ==, 300);
  g_assert_cmpint (st.ran_us, ==, 4000 * 1000);
}

static void
test_undefined_while_running (void)
{
  OsvdiSessionMachine m;

  /* virDomainUndefine of a running domain leaves it running (transient):
   * the desktop stays. */
  running (&m, 0);
  feed (&m, S (DOMAIN_UNDEFINED), 100, S (RUNNING), 0);
  feed (&m, S (CHILD_PLAYING), 110, S (RUNNING), 0);
  /* Its later stop ends the session as usual. */
  feed (&m, S (DOMAIN_STOPPED), 200, S (STOPPING),
      A (WITHDRAW) | A (TERMINATE));
  feed (&m, S (DOMAIN_UNDEFINED), 210, S (STOPPING), 0);
  feed (&m, S (CHILD_EXITED), 300, S (GONE), A (REMOVE));
}

static void
test_duplicate_started (void)
{
  OsvdiSessionMachine m;

  osvdi_session_machine_init (&m, &policy);
  feed (&m, S (BEGIN), 0, S (STARTING), A (PUBLISH) | A (SPAWN));
  feed (&m, S (DOMAIN_STARTED), 1, S (STARTING), 0);
  feed (&m, S (CHILD_PLAYING), 2, S (RUNNING), 0);
  /* A resume, or the reconcile after a reconnect. */
  feed (&m, S (DOMAIN_STARTED), 3, S (RUNNING), 0);
  feed (&m, S (CHILD_PLAYING), 4, S (RUNNING), 0);
  /* A second BEGIN is not a second child. */
  feed (&m, S (BEGIN), 5, S (RUNNING), 0);
}

static void
test_stop_during_backoff (void)
{
  OsvdiSessionMachine m;

  running (&m, 0);
  feed (&m, S (CHILD_EXITED), 100, S (BACKOFF), A (SCHEDULE_RESTART));
  /* No child to stop: withdraw, cancel the restart, done. */
  feed (&m, S (DOMAIN_STOPPED), 150, S (GONE),
      A (CANCEL_RESTART) | A (WITHDRAW) | A (REMOVE));
  /* The timer fired anyway (already dispatched): nothing. */
  feed (&m, S (RESTART_TIMER), 400, S (GONE), 0);

  /* The launcher stops during a backoff: the same. */
  running (&m, 0);
  feed (&m, S (CHILD_EXITED), 100, S (BACKOFF), A (SCHEDULE_RESTART));
  feed (&m, S (SHUTDOWN), 150, S (GONE),
      A (CANCEL_RESTART) | A (WITHDRAW) | A (REMOVE));
}

static void
test_kill_timer_and_setup_failure (void)
{
  OsvdiSessionMachine m;

  running (&m, 0);
  /* Only a stopping child is killed. */
  feed (&m, S (KILL_TIMER), 50, S (RUNNING), 0);
  feed (&m, S (SHUTDOWN), 100, S (STOPPING), A (WITHDRAW) | A (TERMINATE));
  feed (&m, S (KILL_TIMER), 5100, S (STOPPING), A (KILL));
  feed (&m, S (CHILD_EXITED), 5101, S (GONE), A (REMOVE));

  /* No port or ticket: failed from the start, never published. */
  osvdi_session_machine_init (&m, &policy);
  feed (&m, S (SETUP_FAILED), 0, S (FAILED), A (RELEASE_PORTS));
  feed (&m, S (BEGIN), 1, S (FAILED), 0);
  feed (&m, S (DOMAIN_STOPPED), 2, S (GONE), A (REMOVE));
}

/* What supervisor.c relies on, for every state and input. */
static void
test_invariants (void)
{
  OsvdiSessionState state;
  OsvdiSessionInput input;

  for (state = S (NEW); state <= S (GONE); state++)
    for (input = S (BEGIN); input <= S (KILL_TIMER); input++) {
      OsvdiSessionMachine m;
      OsvdiSessionStep st;
      guint after_terminate = A (KILL) | A (SPAWN) | A (SCHEDULE_RESTART) |
          A (REMOVE) | A (RENEW);

      osvdi_session_machine_init (&m, &policy);
      m.state = state;
      st = osvdi_session_machine_feed (&m, input, 1000);
      g_assert_cmpint (st.from, ==, state);
      g_assert_cmpint (st.to, ==, m.state);
      /* TERMINATE and SPAWN may feed the next input at once: nothing
       * comes after them. */
      if (st.actions & A (TERMINATE))
        g_assert_cmpuint (st.actions & after_terminate, ==, 0);
      if (st.actions & A (SPAWN)) {
        g_assert_cmpuint (st.actions & (A (SCHEDULE_RESTART) | A (REMOVE)
                | A (RENEW)), ==, 0);
        g_assert_cmpint (st.to, ==, S (STARTING));
      }
      /* REMOVE exactly when the session is over; RENEW only with it. */
      g_assert_cmpint (! !(st.actions & A (REMOVE)), ==,
          st.to == S (GONE) && st.from != S (GONE));
      if (st.actions & A (RENEW))
        g_assert_true (st.actions & A (REMOVE));
      /* A session without a child is never told to stop one. */
      if (st.actions & (A (TERMINATE) | A (KILL)))
        g_assert_true (osvdi_session_state_has_child (st.from));
      if (st.actions & A (SCHEDULE_RESTART))
        g_assert_cmpuint (st.delay_ms, >, 0);
      /* Undefining a domain changes nothing, whatever the state. */
      if (input == S (DOMAIN_UNDEFINED)) {
        g_assert_cmpuint (st.actions, ==, 0);
        g_assert_cmpint (st.to, ==, state);
      }
      /* The launcher's stop and the VM's stop are the same transition. */
      if (input == S (SHUTDOWN)) {
        OsvdiSessionMachine m2;
        OsvdiSessionStep st2;

        osvdi_session_machine_init (&m2, &policy);
        m2.state = state;
        st2 = osvdi_session_machine_feed (&m2, S (DOMAIN_STOPPED), 1000);
        g_assert_cmpint (st2.to, ==, st.to);
        g_assert_cmpuint (st2.actions, ==, st.actions);
      }
      g_assert_cmpstr (osvdi_session_state_name (state), !=, "?");
      g_assert_cmpstr (osvdi_session_input_name (input), !=, "?");
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launcher/session/lifecycle", test_lifecycle);
  g_test_add_func ("/launcher/session/hard-reboot", test_hard_reboot);
  g_test_add_func ("/launcher/session/destroy-while-starting",
      test_destroy_while_starting);
  g_test_add_func ("/launcher/session/crash-backoff-give-up",
      test_crash_backoff_give_up);
  g_test_add_func ("/launcher/session/stable-run-resets-failures",
      test_stable_run_resets_failures);
  g_test_add_func ("/launcher/session/undefined-while-running",
      test_undefined_while_running);
  g_test_add_func ("/launcher/session/duplicate-started",
      test_duplicate_started);
  g_test_add_func ("/launcher/session/stop-during-backoff",
      test_stop_during_backoff);
  g_test_add_func ("/launcher/session/kill-timer-and-setup-failure",
      test_kill_timer_and_setup_failure);
  g_test_add_func ("/launcher/session/invariants", test_invariants);
  return g_test_run ();
}
