/* OSVDI - vfiodmabufsrc on a real QEMU's D-Bus display
 * SPDX-License-Identifier: Apache-2.0
 *
 * Each test boots a real QEMU (TCG, SeaBIOS, a VGA card, -display
 * dbus,p2p=yes), obtains a display connection the way libvirt does (QMP
 * getfd + add_client @dbus-display) and runs vfiodmabufsrc
 * qemu-display-fd=... against it; a real SPICE client (spice-client-glib)
 * sees the picture and types into the VM.
 */
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <gio/gio.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "osvdi-test-client.h"
#include "osvdi-check-util.h"
#include "osvdi-fake-qemu.h"

#define PASSWORD "qemu-test"

typedef struct
{
  GSubprocess *qemu;
  GSocket *qmp;
  gchar *dir;
  GString *in;
} Qemu;

/* One QMP reply (events skipped); FALSE on an error reply. */
static gboolean
qmp_reply (Qemu * q, gchar ** text)
{
  for (;;) {
    gchar *nl;

    while (!(nl = strchr (q->in->str, '\n'))) {
      gchar buf[4096];
      gssize n = g_socket_receive (q->qmp, buf, sizeof (buf), NULL, NULL);

      fail_unless (n > 0, "QMP connection lost");
      g_string_append_len (q->in, buf, n);
    }
    {
      gchar *line = g_strndup (q->in->str, nl - q->in->str);

      g_string_erase (q->in, 0, nl - q->in->str + 1);
      if (strstr (line, "\"event\"")) {
        g_free (line);
        continue;
      }
      if (text)
        *text = g_strdup (line);
      if (strstr (line, "\"return\"")) {
        g_free (line);
        return TRUE;
      }
      g_free (line);
      return FALSE;
    }
  }
}

static void
qmp_send (Qemu * q, const gchar * json, gint fd)
{
  GOutputVector v = { json, strlen (json) };
  GSocketControlMessage *msg = NULL;
  GError *error = NULL;

  if (fd >= 0) {
    msg = g_unix_fd_message_new ();
    fail_unless (g_unix_fd_message_append_fd (G_UNIX_FD_MESSAGE (msg), fd,
            NULL));
  }
  fail_unless (g_socket_send_message (q->qmp, NULL, &v, 1, msg ? &msg : NULL,
          msg ? 1 : 0, 0, NULL, &error) == (gssize) v.size, "%s",
      error ? error->message : "short write");
  g_clear_object (&msg);
}

static void
qmp (Qemu * q, const gchar * json, gint fd)
{
  gchar *reply = NULL;

  qmp_send (q, json, fd);
  fail_unless (qmp_reply (q, &reply), "QMP %s: %s", json, reply);
  g_free (reply);
}

/* @vga: the display device ("VGA", "virtio-vga"); @extra: NULL for SeaBIOS
 * waiting at its boot prompt, else the -kernel/-initrd/-append/-serial
 * arguments of a Linux guest. */
static Qemu *
qemu_start_full (const gchar * vga, const gchar * const *extra)
{
  Qemu *q = g_new0 (Qemu, 1);
  gchar *sock, *qmp_arg;
  GSocketAddress *addr;
  GError *error = NULL;
  guint i;

  q->dir = g_dir_make_tmp ("osvdi-qemu-XXXXXX", NULL);
  sock = g_build_filename (q->dir, "qmp.sock", NULL);
  qmp_arg = g_strdup_printf ("unix:%s,server=on,wait=off", sock);
  {
    /* SeaBIOS waits a minute at "Press ESC for boot menu." */
    const gchar *base[] = { "qemu-system-x86_64", "-machine", "pc,accel=tcg",
      "-m", "256", "-nodefaults", "-device", vga, "-display",
      "dbus,p2p=yes", "-qmp", qmp_arg, "-boot", "menu=on,splash-time=60000",
      NULL
    };
    GPtrArray *argv = g_ptr_array_new ();
    guint j;

    for (j = 0; base[j]; j++)
      g_ptr_array_add (argv, (gpointer) base[j]);
    if (!extra) {
      g_ptr_array_add (argv, "-serial");
      g_ptr_array_add (argv, "null");
    }
    for (j = 0; extra && extra[j]; j++)
      g_ptr_array_add (argv, (gpointer) extra[j]);
    g_ptr_array_add (argv, NULL);
    q->qemu = g_subprocess_newv ((const gchar * const *) argv->pdata,
        G_SUBPROCESS_FLAGS_STDERR_SILENCE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
        &error);
    g_ptr_array_unref (argv);
  }
  fail_unless (q->qemu != NULL, "%s", error ? error->message : "");
  q->qmp = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0,
      NULL);
  addr = g_unix_socket_address_new (sock);
  for (i = 0; i < 200; i++) {
    if (g_socket_connect (q->qmp, addr, NULL, NULL))
      break;
    g_usleep (50 * 1000);
  }
  fail_unless (i < 200, "QEMU's QMP socket never appeared");
  g_object_unref (addr);
  g_free (sock);
  g_free (qmp_arg);
  q->in = g_string_new (NULL);
  {
    gchar *greeting = NULL;

    qmp_reply (q, &greeting);   /* {"QMP": ...} has no "return" */
    g_free (greeting);
  }
  qmp (q, "{\"execute\": \"qmp_capabilities\"}", -1);
  return q;
}

static Qemu *
qemu_start (void)
{
  return qemu_start_full ("VGA", NULL);
}

/* A display connection, as virDomainOpenGraphicsFD gives one out. */
static gint
qemu_display_fd (Qemu * q)
{
  gint sv[2];

  fail_unless (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  qmp (q, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"osvdi\"}}",
      sv[1]);
  close (sv[1]);
  qmp (q, "{\"execute\": \"add_client\", \"arguments\": {\"protocol\": "
      "\"@dbus-display\", \"fdname\": \"osvdi\"}}", -1);
  return sv[0];
}

static void
qemu_stop (Qemu * q)
{
  gchar *argv[] = { "rm", "-rf", q->dir, NULL };

  g_subprocess_force_exit (q->qemu);
  g_subprocess_wait (q->qemu, NULL, NULL);
  g_object_unref (q->qemu);
  g_object_unref (q->qmp);
  g_string_free (q->in, TRUE);
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
      NULL, NULL, NULL);
  g_free (q->dir);
  g_free (q);
}

/* Pixels in rows [@y0, @y1) brighter than mid-grey: SeaBIOS's text. */
static guint
lit_pixels (OsvdiTestClient * client, gint y0, gint y1)
{
  return osvdi_test_client_lit_pixels (client, 0, y0, G_MAXINT, y1);
}

static gboolean
wait_lit (OsvdiTestClient * client, gint y0, gint y1, guint min, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end) {
    if (lit_pixels (client, y0, y1) >= min)
      return TRUE;
    osvdi_test_client_iterate (50);
  }
  return FALSE;
}

/* QEMU >= 9.2 shares a 2D surface it allocated itself (a text mode, a
 * virtio-gpu resource) through Listener.Unix.Map when the listener
 * announces it, as ours does; older ones send the pixels in each message. */
static gboolean
qemu_shares_map (void)
{
  gchar *out = NULL;
  guint major = 0, minor = 0;

  fail_unless (g_spawn_command_line_sync ("qemu-system-x86_64 --version",
          &out, NULL, NULL, NULL));
  fail_unless (sscanf (out, "QEMU emulator version %u.%u", &major,
          &minor) == 2, "qemu-system-x86_64 --version: %s", out);
  g_free (out);
  return major > 9 || (major == 9 && minor >= 2);
}

/* The frames of the element named "src" in @p are QEMU's shared memory
 * exactly where this QEMU can share it. */
static void
check_shared_map (GstElement * p, const gchar * what)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstStructure *stats;
  gboolean shared = FALSE, want = qemu_shares_map ();
  guint64 frames = 0, copies = 0, snapshots = 0;

  g_object_get (src, "stats", &stats, NULL);
  fail_unless (gst_structure_get_boolean (stats, "shared-map", &shared));
  gst_structure_get_uint64 (stats, "frames", &frames);
  gst_structure_get_uint64 (stats, "mirror-copies", &copies);
  gst_structure_get_uint64 (stats, "map-snapshots", &snapshots);
  GST_INFO ("%s: %" GST_PTR_FORMAT, what, stats);
  fail_unless_equals_int (shared, want);
  fail_unless (frames > 0);
  if (want)
    fail_unless_equals_uint64 (copies, 0);
  gst_structure_free (stats);
  gst_object_unref (src);
}

GST_START_TEST (test_seabios_to_spice_client)
{
  Qemu *q = qemu_start ();
  gint fd = qemu_display_fd (q);
  gint port = osvdi_test_client_free_port ();
  gchar *desc = g_strdup_printf ("vfiodmabufsrc name=src "
      "qemu-display-fd=%d ! videoconvert ! x264enc tune=zerolatency "
      "speed-preset=ultrafast key-int-max=600 ! h264parse ! spicesink "
      "port=%d password=" PASSWORD, fd, port);
  GstElement *p = gst_parse_launch (desc, NULL);
  OsvdiTestClientConfig cfg = {.port = port,.password = PASSWORD };
  OsvdiTestClient *client;
  gint w = 0, h = 0, event;
  guint before;

  fail_unless (p != NULL);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  /* The element took its own duplicate. */
  close (fd);

  client = osvdi_test_client_new (&cfg);
  fail_unless (osvdi_test_client_connect (client));
  fail_unless (osvdi_test_client_wait_open (client, 20000, &event),
      "client did not connect (%d)", event);

  /* SeaBIOS's banner, in VGA text mode (720x400). */
  fail_unless (wait_lit (client, 0, 16, 100, 60000), "no SeaBIOS banner "
      "(%u lit pixels in the first text row)", lit_pixels (client, 0, 16));
  fail_unless (osvdi_test_client_size (client, &w, &h));
  fail_unless_equals_int (w, 720);
  fail_unless_equals_int (h, 400);
  fail_unless (wait_lit (client, 32, 48, 100, 30000),
      "no \"Press ESC for boot menu.\"");
  before = lit_pixels (client, 56, 400);
  fail_unless (before < 50, "%u lit pixels below the prompt already",
      before);

  /* Esc, typed at the SPICE client, reaches SeaBIOS: the boot menu. */
  fail_unless (osvdi_test_client_wait_inputs (client, 10000));
  osvdi_test_client_key (client, 0x01, TRUE);
  osvdi_test_client_iterate (100);
  osvdi_test_client_key (client, 0x01, FALSE);
  fail_unless (wait_lit (client, 56, 400, before + 200, 60000),
      "the boot menu did not open (%u lit pixels below the prompt)",
      lit_pixels (client, 56, 400));
  /* Text mode is a surface QEMU allocates: shared from QEMU 9.2 on. */
  check_shared_map (p, "SeaBIOS");

  osvdi_test_client_free (client);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_free (desc);
  qemu_stop (q);
}

GST_END_TEST;

/* Runs a tests/vm script; its last output line, or NULL when it cannot
 * (exit 77: not root and the parts are missing). */
static gchar *
run_vm_script (const gchar * script, const gchar * arg, const gchar * arg2)
{
  gchar *path = g_build_filename (OSVDI_SOURCE_DIR, "tests", "vm", script,
      NULL);
  gchar *argv[] = { path, (gchar *) arg, (gchar *) arg2, NULL };
  gchar *out = NULL, *err = NULL, *line = NULL;
  gint status = 0;

  fail_unless (g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          &out, &err, &status, NULL));
  if (g_spawn_check_wait_status (status, NULL))
    line = g_strdup (g_strstrip (out));
  else
    fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 77
        && !g_getenv ("CI"), "%s failed: %s", script, err);
  g_free (out);
  g_free (err);
  g_free (path);
  return line;
}

static guint
count_lines (const gchar * text, const gchar * what)
{
  guint n = 0;

  for (; text && (text = strstr (text, what)); text++)
    n++;
  return n;
}

/* Types @text at the SPICE client (unshifted keys only). */
static void
type_text (OsvdiTestClient * client, const gchar * text)
{
  gchar bad = 0;

  fail_unless (osvdi_test_client_type (client, text, 20, &bad),
      "no key for '%c'", bad);
}

static gboolean
wait_file_contains (const gchar * path, const gchar * what, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end) {
    gchar *text = NULL;
    gboolean found = g_file_get_contents (path, &text, NULL, NULL)
        && strstr (text, what);

    g_free (text);
    if (found)
      return TRUE;
    osvdi_test_client_iterate (100);
  }
  return FALSE;
}

/* A Linux guest (Debian's kernel, the busybox initramfs) on a real QEMU
 * with @vga, its display through vfiodmabufsrc ! x264enc ! spicesink to a
 * connected real SPICE client; the guest's serial port goes to a file. */
typedef struct
{
  Qemu *q;
  gchar *serial;
  GstElement *pipeline;
  OsvdiTestClient *client;
} LinuxGuest;

/* main() checked that the guest can be made. */
static void
linux_guest_start (LinuxGuest * g, const gchar * test, const gchar * vga,
    const gchar * append, const gchar * device)
{
  gchar *vmdir = g_build_filename (OSVDI_BUILD_DIR, "tests", "vm", NULL);
  gchar *initrd_path = g_build_filename (OSVDI_BUILD_DIR, "tests",
      "osvdi-guest.cpio.gz", NULL);
  gchar *kernel = run_vm_script ("guest-kernel.sh", vmdir, NULL);
  gchar *initrd = kernel ? run_vm_script ("guest-initramfs.sh", initrd_path,
      vmdir) : NULL;
  gchar *serial_arg, *cmdline, *desc;
  OsvdiTestClientConfig cfg = {.password = PASSWORD };
  gint fd, event;

  memset (g, 0, sizeof (*g));
  g_free (vmdir);
  g_free (initrd_path);
  fail_unless (initrd != NULL, "%s: no guest kernel or initramfs", test);
  g->serial = g_build_filename (g_get_tmp_dir (),
      "osvdi-guest-serial-XXXXXX", NULL);
  close (g_mkstemp (g->serial));
  serial_arg = g_strdup_printf ("file:%s", g->serial);
  cmdline = g_strdup_printf ("console=tty0 quiet loglevel=3 vga=0x344 %s",
      append);
  {
    const gchar *extra[] = { "-kernel", kernel, "-initrd", initrd,
      "-append", cmdline, "-serial", serial_arg,
      device ? "-device" : NULL, device, NULL
    };
    g->q = qemu_start_full (vga, extra);
  }
  fd = qemu_display_fd (g->q);
  cfg.port = osvdi_test_client_free_port ();
  desc = g_strdup_printf ("vfiodmabufsrc name=src qemu-display-fd=%d "
      "! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast "
      "key-int-max=600 ! h264parse ! spicesink port=%d password=" PASSWORD,
      fd, cfg.port);
  g->pipeline = gst_parse_launch (desc, NULL);
  fail_unless (gst_element_set_state (g->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  close (fd);
  g->client = osvdi_test_client_new (&cfg);
  fail_unless (osvdi_test_client_connect (g->client));
  fail_unless (osvdi_test_client_wait_open (g->client, 20000, &event));
  g_free (desc);
  g_free (cmdline);
  g_free (serial_arg);
  g_free (kernel);
  g_free (initrd);
}

static void
linux_guest_stop (LinuxGuest * g)
{
  osvdi_test_client_free (g->client);
  gst_element_set_state (g->pipeline, GST_STATE_NULL);
  gst_object_unref (g->pipeline);
  qemu_stop (g->q);
  g_unlink (g->serial);
  g_free (g->serial);
}

/* Debian's kernel with a busybox initramfs: the guest switches from
 * SeaBIOS's text mode to a 1024x768 framebuffer, draws four quadrants and
 * runs a shell; what the SPICE client types reaches it. */
GST_START_TEST (test_linux_guest_framebuffer_and_shell)
{
  LinuxGuest g;
  OsvdiTestClient *client;
  gchar *serial;
  gint w = 0, h = 0;
  static const struct
  {
    gint x, y;
    guint32 rgb;
  } quadrants[] = {
    {384, 300, 0xff0000}, {768, 192, 0x00ff00}, {256, 576, 0x0000ff},
    {768, 576, 0xffffff},
  };
  guint i;

  linux_guest_start (&g, "test_linux_guest_framebuffer_and_shell", "VGA",
      "osvdi.pattern", "virtio-tablet-pci");
  client = g.client;
  serial = g.serial;

  /* The pattern, after the text -> 1024x768 renegotiation. */
  fail_unless (wait_file_contains (serial, "OSVDI-PATTERN 1024,768 32",
          180000), "the guest did not draw its pattern");
  for (i = 0; i < G_N_ELEMENTS (quadrants); i++) {
    guint32 rgb = 0;

    if (!osvdi_test_client_wait_pixel (client, quadrants[i].x,
            quadrants[i].y, quadrants[i].rgb, 40, 30000)) {
      osvdi_test_client_pixel (client, quadrants[i].x, quadrants[i].y, &rgb);
      fail ("quadrant %u at (%d,%d): got %06x, want %06x", i,
          quadrants[i].x, quadrants[i].y, rgb, quadrants[i].rgb);
    }
  }
  fail_unless (osvdi_test_client_size (client, &w, &h));
  fail_unless_equals_int (w, 1024);
  fail_unless_equals_int (h, 768);

  /* Keys typed at the SPICE client reach the guest's shell, which says so
   * on its serial port (the typed line itself has no "3997" in it). */
  fail_unless (osvdi_test_client_wait_inputs (client, 10000));
  fail_unless (wait_file_contains (serial, "# ", 60000), "no shell prompt");
  type_text (client, "expr 4000 - 3\n");
  fail_unless (wait_file_contains (serial, "3997", 60000),
      "what the client typed did not reach the guest's shell");

  /* The pointer: the client (absolute mode) points and clicks; the guest's
   * PS/2 mouse is relative, so the element sends RelMotion and buttons,
   * which the guest reports from /dev/input/mice. A left-button packet has
   * bit 0 of its first byte set. */
  osvdi_test_client_position (client, 500, 400);
  osvdi_test_client_iterate (200);
  osvdi_test_client_position (client, 560, 440);
  osvdi_test_client_iterate (200);
  fail_unless (wait_file_contains (serial, "OSVDI-MOUSE", 30000),
      "pointer motion did not reach the guest's mouse");
  osvdi_test_client_button (client, 1 /* SPICE_MOUSE_BUTTON_LEFT */ , TRUE);
  osvdi_test_client_iterate (200);
  osvdi_test_client_button (client, 1, FALSE);
  {
    gint64 end = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
    gboolean clicked = FALSE;

    while (!clicked && g_get_monotonic_time () < end) {
      gchar *text = NULL, **lines, **l;

      g_file_get_contents (serial, &text, NULL, NULL);
      lines = g_strsplit (text ? text : "", "\n", -1);
      for (l = lines; *l && !clicked; l++) {
        const gchar *m = strstr (*l, "OSVDI-MOUSE ");

        clicked = m && (strtoul (m + 12, NULL, 16) & 1);
      }
      g_strfreev (lines);
      g_free (text);
      osvdi_test_client_iterate (100);
    }
    fail_unless (clicked, "the click did not reach the guest's mouse");
  }

  /* An absolute pointer, as desktops have: the guest turns its virtio
   * tablet on, QEMU's mouse becomes absolute (IsAbsolute), and RelMotion
   * would now fail ("Mouse is not relative"): packets that still arrive
   * prove SetAbsPosition. */
  type_text (client, "insmod /vi.ko\n");
  osvdi_test_client_iterate (3000);
  {
    gchar *text = NULL;
    guint before, after = 0, n;
    gint64 end = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;

    g_file_get_contents (serial, &text, NULL, NULL);
    before = count_lines (text, "OSVDI-MOUSE ");
    g_free (text);
    for (n = 0; g_get_monotonic_time () < end && after <= before; n++) {
      osvdi_test_client_position (client, 100 + (n % 8) * 100, 100 + (n % 6)
          * 100);
      osvdi_test_client_iterate (300);
      g_file_get_contents (serial, &text, NULL, NULL);
      after = count_lines (text, "OSVDI-MOUSE ");
      g_free (text);
    }
    fail_unless (after > before, "absolute pointer motion did not reach the "
        "guest's tablet (%u mouse packets before and after)", before);
  }

  linux_guest_stop (&g);
}

GST_END_TEST;

/* Waits up to @ms for the client's cursor to be @width wide; the cursor
 * as it is then. */
static void
wait_cursor_width (OsvdiTestClient * client, gint width, guint ms, gint * w,
    gint * h, gint * hx, gint * hy, guint32 * pixel)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  do {
    osvdi_test_client_cursor (client, w, h, hx, hy, pixel);
    if (*w == width)
      return;
    osvdi_test_client_iterate (50);
  } while (g_get_monotonic_time () < end);
}

/* The guest's hardware cursor (virtio-gpu: QEMU's CursorDefine and
 * MouseSet) reaches the SPICE client beside the video: its shape, its hot
 * spot, its position (QEMU gives the image's corner, SPICE wants the hot
 * spot), hidden when the guest turns it off, back when it sets one again. */
GST_START_TEST (test_linux_guest_cursor)
{
  LinuxGuest g;
  OsvdiTestClient *client;
  gchar *serial;
  gint w = 0, h = 0, hx = -1, hy = -1;
  guint32 pixel = 0;

  linux_guest_start (&g, "test_linux_guest_cursor", "virtio-vga",
      "osvdi.cursor", NULL);
  client = g.client;
  serial = g.serial;

  /* guest-cursor.c: 64x64, 0xff20c040, hot spot 5,7, corner at 300,200. */
  fail_unless (wait_file_contains (serial, "OSVDI-CURSOR 300 200", 180000),
      "the guest did not set its cursor");
  fail_unless (osvdi_test_client_wait_cursor (client, 30000),
      "no cursor reached the client");
  wait_cursor_width (client, 64, 30000, &w, &h, &hx, &hy, &pixel);
  fail_unless (w == 64 && h == 64, "cursor %dx%d", w, h);
  fail_unless (hx == 5 && hy == 7, "hot spot %d,%d", hx, hy);
  fail_unless (pixel == 0xff20c040, "cursor pixel %08x", pixel);
  fail_unless (osvdi_test_client_wait_cursor_pos (client, 305, 207, 30000),
      "the cursor is not at its hot spot 305,207");
  /* virtio-gpu's 2D resources are QEMU's memfds: shared from 9.2 on. */
  check_shared_map (g.pipeline, "virtio-vga");

  /* The guest turns its cursor off (its DRM master goes): hidden. */
  fail_unless (wait_file_contains (serial, "# ", 60000), "no shell prompt");
  type_text (client, "killall guest-cursor\n");
  wait_cursor_width (client, 1, 60000, &w, &h, &hx, &hy, &pixel);
  fail_unless (w == 1 && h == 1 && (pixel >> 24) == 0,
      "the hidden cursor is %dx%d, first pixel %08x", w, h, pixel);

  /* And a new one, elsewhere. */
  type_text (client, "guest-cursor 100 50\n");
  fail_unless (wait_file_contains (serial, "OSVDI-CURSOR 100 50", 60000),
      "the guest did not set its cursor again");
  fail_unless (osvdi_test_client_wait_cursor_pos (client, 105, 57, 30000),
      "the cursor did not come back at 105,57");
  osvdi_test_client_cursor (client, &w, &h, &hx, &hy, &pixel);
  fail_unless (w == 64 && pixel == 0xff20c040, "cursor %dx%d %08x", w, h,
      pixel);

  linux_guest_stop (&g);
}

GST_END_TEST;

/* The VM goes away: the stream ends as on-disconnect says. */
static void
check_disconnect (const gchar * mode, GstMessageType want)
{
  Qemu *q = qemu_start ();
  gint fd = qemu_display_fd (q);
  gchar *desc = g_strdup_printf ("vfiodmabufsrc name=src "
      "qemu-display-fd=%d on-disconnect=%s ! fakesink name=sink", fd, mode);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstMessage *m;
  GstSample *last = NULL;
  guint i;

  g_object_set (sink, "enable-last-sample", TRUE, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  close (fd);
  /* A frame first: the connection works. */
  for (i = 0; i < 300 && !last; i++) {
    g_usleep (100 * 1000);
    g_object_get (sink, "last-sample", &last, NULL);
  }
  fail_unless (last != NULL, "no frame from QEMU");
  gst_sample_unref (last);

  g_subprocess_force_exit (q->qemu);
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 20 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "nothing happened when QEMU died");
  fail_unless_equals_int (GST_MESSAGE_TYPE (m), want);
  if (want == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (m, &err, &dbg);
    fail_unless (strstr (err->message, "display went away"), "%s",
        err->message);
    fail_unless (dbg && strstr (dbg, "closed the display connection"), "%s",
        dbg);
    g_error_free (err);
    g_free (dbg);
  }
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  g_free (desc);
  qemu_stop (q);
}

GST_START_TEST (test_disconnect_eos)
{
  check_disconnect ("eos", GST_MESSAGE_EOS);
}

GST_END_TEST;

GST_START_TEST (test_disconnect_error)
{
  check_disconnect ("error", GST_MESSAGE_ERROR);
}

GST_END_TEST;

/* set_state() on its own thread, so that a state change that hangs fails
 * the test instead of hanging it. */
typedef struct
{
  GstElement *element;
  GstState state;
  GstStateChangeReturn ret;
  gboolean done;
  GMutex lock;
  GCond cond;
  GThread *thread;
} StateChange;

static gpointer
state_change_thread (gpointer data)
{
  StateChange *sc = data;
  GstStateChangeReturn ret = gst_element_set_state (sc->element, sc->state);

  g_mutex_lock (&sc->lock);
  sc->ret = ret;
  sc->done = TRUE;
  g_cond_broadcast (&sc->cond);
  g_mutex_unlock (&sc->lock);
  return NULL;
}

static StateChange *
state_change_start (GstElement * element, GstState state)
{
  StateChange *sc = g_new0 (StateChange, 1);

  sc->element = element;
  sc->state = state;
  g_mutex_init (&sc->lock);
  g_cond_init (&sc->cond);
  sc->thread = g_thread_new ("set-state", state_change_thread, sc);
  return sc;
}

/* TRUE once the state change returned, within @s seconds. */
static gboolean
state_change_wait (StateChange * sc, guint s)
{
  gint64 end = g_get_monotonic_time () + s * G_TIME_SPAN_SECOND;
  gboolean done;

  g_mutex_lock (&sc->lock);
  while (!sc->done && g_cond_wait_until (&sc->cond, &sc->lock, end));
  done = sc->done;
  g_mutex_unlock (&sc->lock);
  return done;
}

static void
state_change_free (StateChange * sc)
{
  g_thread_join (sc->thread);
  g_mutex_clear (&sc->lock);
  g_cond_clear (&sc->cond);
  g_free (sc);
}

/* The error a pipeline posts once PLAYING (the QEMU display connects in
 * the background), within a generous bound. */
static GError *
playing_error (GstElement * p)
{
  StateChange *sc = state_change_start (p, GST_STATE_PLAYING);
  GstMessage *m;
  GError *error = NULL;

  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 60 * GST_SECOND,
      GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error on the bus within 60 s (the state "
      "change %s)", state_change_wait (sc, 0) ? "returned" : "hangs");
  gst_message_parse_error (m, &error, NULL);
  gst_message_unref (m);
  fail_unless (state_change_wait (sc, 60));
  state_change_free (sc);
  gst_element_set_state (p, GST_STATE_NULL);
  return error;
}

/* No QEMU needed: what a wrong fd or wrong settings say. */
GST_START_TEST (test_bad_settings)
{
  gint sv[2];
  gchar *desc;
  GstElement *p;
  GError *e;

  e = osvdi_test_start_error ("vfiodmabufsrc qemu-display-fd=0 "
      "mdev=00000000-0000-0000-0000-000000000000 ! fakesink");
  fail_unless (strstr (e->message, "exactly one"), "%s", e->message);
  g_error_free (e);

  /* A peer that hung up before the handshake. */
  fail_unless (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  close (sv[1]);
  desc = g_strdup_printf ("vfiodmabufsrc qemu-display-fd=%d ! fakesink",
      sv[0]);
  p = gst_parse_launch (desc, NULL);
  e = playing_error (p);
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_READ_WRITE), "%s", e->message);
  fail_unless (strstr (e->message, "QEMU's display"), "%s", e->message);
  g_error_free (e);
  gst_object_unref (p);
  g_free (desc);
  close (sv[0]);

  /* Not a socket at all. */
  e = osvdi_test_start_error ("vfiodmabufsrc qemu-display-fd=999 ! fakesink");
  fail_unless (strstr (e->message, "QEMU's display"), "%s", e->message);
  g_error_free (e);
}

GST_END_TEST;

/* A peer that keeps the connection open and never answers the D-Bus
 * handshake (a wedged QEMU): the element fails within connect-timeout,
 * with an error that names the fd. */
GST_START_TEST (test_connect_timeout)
{
  gint sv[2];
  gchar *desc, *want;
  GstElement *p;
  GError *e;

  fail_unless (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  desc = g_strdup_printf ("vfiodmabufsrc qemu-display-fd=%d "
      "connect-timeout=1 ! fakesink", sv[0]);
  p = gst_parse_launch (desc, NULL);
  e = playing_error (p);
  want = g_strdup_printf ("QEMU's display on fd %d did not answer within "
      "1 s", sv[0]);
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_OPEN_READ_WRITE), "%s", e->message);
  fail_unless (g_str_equal (e->message, want), "%s", e->message);
  g_error_free (e);
  g_free (want);
  gst_object_unref (p);
  g_free (desc);
  close (sv[0]);
  close (sv[1]);
}

GST_END_TEST;

/* TRUE once @fd has something to read (or its peer hung up), within @s
 * seconds. */
static gboolean
wait_readable (gint fd, guint s)
{
  struct pollfd pfd = {.fd = fd,.events = POLLIN };

  return poll (&pfd, 1, s * 1000) == 1;
}

/* Stopping the element from another thread while it connects to a silent
 * peer returns at once (the timeout is an hour: only cancelling ends the
 * wait), and the element's end of the connection is closed. */
GST_START_TEST (test_connect_cancelled_by_stop)
{
  gint sv[2];
  gchar *desc, buf[256];
  GstElement *p;
  StateChange *play, *stop;
  gssize n;

  fail_unless (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  desc = g_strdup_printf ("vfiodmabufsrc qemu-display-fd=%d "
      "connect-timeout=3600 ! fakesink", sv[0]);
  p = gst_parse_launch (desc, NULL);
  play = state_change_start (p, GST_STATE_PLAYING);
  /* The element is in the handshake once its first bytes arrive. */
  fail_unless (wait_readable (sv[1], 30), "the element never started the "
      "D-Bus handshake");
  n = recv (sv[1], buf, sizeof (buf), 0);
  fail_unless (n > 0);
  /* The element has its own duplicate by now. */
  close (sv[0]);

  stop = state_change_start (p, GST_STATE_NULL);
  fail_unless (state_change_wait (stop, 30), "set_state (NULL) did not "
      "return within 30 s while the element was connecting");
  fail_unless_equals_int (stop->ret, GST_STATE_CHANGE_SUCCESS);
  fail_unless (state_change_wait (play, 30));
  /* The element's duplicate of the fd is closed: end of file here. */
  fail_unless (wait_readable (sv[1], 30));
  while ((n = recv (sv[1], buf, sizeof (buf), 0)) > 0);
  fail_unless_equals_int (n, 0);

  state_change_free (play);
  state_change_free (stop);
  gst_object_unref (p);
  g_free (desc);
  close (sv[1]);
}

GST_END_TEST;

/* Every byte of @buf's @w x @h frame is @value except those in the square
 * (@x, @y, @n): those are @inner (-1: no square). The layout is the
 * buffer's video meta, or the default one (downstream that asks for no meta
 * gets the default stride: the element copies otherwise). */
static gboolean
frame_is (GstBuffer * buf, guint w, guint h, guint8 value, gint x, gint y,
    gint n, gint inner)
{
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  guint stride = meta ? (guint) meta->stride[0] : w * 4;
  GstMapInfo map;
  gboolean ok = TRUE;
  guint row, col;

  if (meta)
    fail_unless (meta->width == w && meta->height == h);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless (map.size >= (gsize) stride * (h - 1) + w * 4);
  for (row = 0; row < h && ok; row++)
    for (col = 0; col < w * 4 && ok; col++) {
      gboolean in = inner >= 0 && (gint) row >= y && (gint) row < y + n
          && (gint) col >= x * 4 && (gint) col < (x + n) * 4;

      ok = map.data[row * stride + col] == (in ? inner : value);
    }
  gst_buffer_unmap (buf, &map);
  return ok;
}

static guint64
mirror_copies (GstElement * p)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstStructure *stats;
  guint64 n = G_MAXUINT64;

  g_object_get (src, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "mirror-copies", &n);
  gst_structure_free (stats);
  gst_object_unref (src);
  return n;
}

/* fakesink hands each frame over and keeps nothing (appsink would keep the
 * last one): the test alone decides how long a frame is held. */
static void
take_frame (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer queue)
{
  g_async_queue_push (queue, gst_buffer_ref (buf));
}

static GstBuffer *
next_frame (GAsyncQueue * queue)
{
  return g_async_queue_timeout_pop (queue, 10 * G_TIME_SPAN_SECOND);
}

/* Without GL, frames share the element's mirror of the console instead of
 * copying it. A frame still held downstream when QEMU changes the screen
 * must keep what it showed (the mirror is copied then, and only then); a
 * released one is written over in place. A stand-in QEMU 7.2 peer sends the
 * updates on cue (a real QEMU's come when its guest draws). */
GST_START_TEST (test_shared_mirror_frames)
{
  const guint w = 320, h = 200;
  guint8 *screen = g_malloc (w * h * 4), *square = g_malloc (16 * 16 * 4);
  GAsyncQueue *queue = g_async_queue_new ();
  OsvdiFakeQemu *f;
  GstElement *p, *sink;
  GstBuffer *b1, *b2, *b3;      /* the first, second and third frame */
  gchar *desc;
  gint fd;

  memset (screen, 0x30, w * h * 4);
  f = osvdi_fake_qemu_new (w, h, w * 4, -1, screen, &fd);
  desc = g_strdup_printf ("vfiodmabufsrc name=src qemu-display-fd=%d "
      "! fakesink name=sink sync=false enable-last-sample=false "
      "signal-handoffs=true", fd);
  p = gst_parse_launch (desc, NULL);
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (take_frame), queue);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  close (fd);
  fail_unless (osvdi_fake_qemu_wait_scanout (f, 10000));
  fail_unless ((b1 = next_frame (queue)) != NULL, "no first frame");
  fail_unless (frame_is (b1, w, h, 0x30, 0, 0, 0, -1));

  /* Held: the next change must not reach it. */
  memset (screen, 0xc0, w * h * 4);
  fail_unless (osvdi_fake_qemu_update (f, 0, 0, w, h, w * 4, screen));
  fail_unless ((b2 = next_frame (queue)) != NULL, "no frame for the update");
  fail_unless (frame_is (b2, w, h, 0xc0, 0, 0, 0, -1));
  fail_unless (frame_is (b1, w, h, 0x30, 0, 0, 0, -1),
      "a held frame changed under its holder");
  fail_unless_equals_uint64 (mirror_copies (p), 1);

  /* Both let go: a square drawn in place, no copy. */
  gst_buffer_unref (b1);
  gst_buffer_unref (b2);
  memset (square, 0x55, 16 * 16 * 4);
  fail_unless (osvdi_fake_qemu_update (f, 40, 30, 16, 16, 16 * 4, square));
  fail_unless ((b3 = next_frame (queue)) != NULL, "no frame for the square");
  fail_unless (frame_is (b3, w, h, 0xc0, 40, 30, 16, 0x55));
  fail_unless_equals_uint64 (mirror_copies (p), 1);

  /* A writer downstream gets its own copy, never the mirror. */
  {
    GstBuffer *buf = gst_buffer_make_writable (gst_buffer_ref (b3));
    GstMapInfo map;

    fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
    memset (map.data, 0x77, map.size);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    fail_unless (frame_is (b3, w, h, 0xc0, 40, 30, 16, 0x55));
  }
  gst_buffer_unref (b3);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  osvdi_fake_qemu_free (f);
  g_async_queue_unref (queue);
  g_free (desc);
  g_free (screen);
  g_free (square);
}

GST_END_TEST;

/* What the real-QEMU tests need and lack here, or NULL when they can run.
 * Outside a test, so no fail_unless: guest-kernel.sh and guest-initramfs.sh
 * exit 77 when they cannot get Debian's kernel or busybox (not root); they
 * cache what they made, and the tests call them again. */
static gchar *
real_qemu_missing (void)
{
  gchar *qemu = g_find_program_in_path ("qemu-system-x86_64");
  gchar *vmdir = g_build_filename (OSVDI_BUILD_DIR, "tests", "vm", NULL);
  gchar *initrd = g_build_filename (OSVDI_BUILD_DIR, "tests",
      "osvdi-guest.cpio.gz", NULL);
  const gchar *scripts[][3] = {
    {"guest-kernel.sh", vmdir, NULL}, {"guest-initramfs.sh", initrd, vmdir}
  };
  gchar *missing = NULL;
  guint i;

  if (!qemu)
    missing = g_strdup ("qemu-system-x86_64 is not installed (scripts/test "
        "installs it as root)");
  for (i = 0; !missing && i < G_N_ELEMENTS (scripts); i++) {
    gchar *path = g_build_filename (OSVDI_SOURCE_DIR, "tests", "vm",
        scripts[i][0], NULL);
    gchar *argv[] = { path, (gchar *) scripts[i][1], (gchar *) scripts[i][2],
      NULL
    };
    gchar *err = NULL;
    gint status = 0;

    if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
            NULL, NULL, &err, &status, NULL)
        || !g_spawn_check_wait_status (status, NULL))
      missing = g_strdup_printf ("%s cannot make the guest: %s",
          scripts[i][0], err ? g_strstrip (err) : "did not run");
    g_free (err);
    g_free (path);
  }
  g_free (qemu);
  g_free (vmdir);
  g_free (initrd);
  return missing;
}

/* OSVDI_QEMU_TESTS=standin: the tests against the stand-in peer, which
 * need no QEMU; anything else: the real QEMUs and Linux guests, which skip
 * the whole suite (exit 77, the reason on stderr) when QEMU or the guest
 * cannot be had here. Two meson tests, so a skip is never counted as a
 * pass. */
static Suite *
qemudisplay_suite (gboolean real)
{
  Suite *s = suite_create ("qemudisplay");
  TCase *tc = tcase_create (real ? "qemu" : "standin");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  if (!real) {
    tcase_add_test (tc, test_bad_settings);
    tcase_add_test (tc, test_connect_timeout);
    tcase_add_test (tc, test_connect_cancelled_by_stop);
    tcase_add_test (tc, test_shared_mirror_frames);
  } else {
    tcase_add_test (tc, test_seabios_to_spice_client);
    tcase_add_test (tc, test_disconnect_eos);
    tcase_add_test (tc, test_disconnect_error);
    tcase_add_test (tc, test_linux_guest_framebuffer_and_shell);
    tcase_add_test (tc, test_linux_guest_cursor);
  }
  return s;
}

int
main (int argc, char **argv)
{
  gboolean real = g_strcmp0 (g_getenv ("OSVDI_QEMU_TESTS"), "standin") != 0;

  gst_check_init (&argc, &argv);
  if (real) {
    gchar *missing = real_qemu_missing ();

    if (missing) {
      g_printerr ("SKIP: %s\n", missing);
      g_free (missing);
      return 77;
    }
  }
  return gst_check_run_suite (qemudisplay_suite (real), "qemudisplay",
      __FILE__);
}
