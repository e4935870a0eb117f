/* OSVDI fuzz target: QEMU's display listener calls (host/osvdi-qemu-display.c)
 * SPDX-License-Identifier: Apache-2.0
 *
 * A hostile or buggy QEMU (or whatever holds the other end of the display
 * fd): Scanout, Update, ScanoutDMABUF, ScanoutMap, UpdateMap, CursorDefine
 * and Disable with any sizes, strides, formats and coordinates, in any
 * order, with frames taken (and held, as a slow encoder holds them) in
 * between. The handlers are called directly (osvdi-qemu-display-private.h)
 * on an unconnected display. Checked: every frame handed out is a format
 * the element knows, with a stride that holds a row and pixels that hold
 * stride * height bytes (all read); every cursor is 1..512 square pixels
 * with its bytes; the display never reports a connection it never had.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "osvdi-fuzz.h"
#include "osvdi-qemu-display-private.h"

#include <sys/mman.h>
#include <unistd.h>

#define XR24 0x34325258
#define AR24 0x34325241
#define PIXMAN_x8r8g8b8 0x20020888
#define PIXMAN_a8r8g8b8 0x20028888
/* Largest pixel message or shared map made here. */
#define MAX_BYTES (4u << 20)

static guint8 *pattern;         /* MAX_BYTES of message payload */
static gint dmabuf_memfd = -1;
static GVariant *volatile keep[6];  /* volatile: never read, still kept */
static volatile guint8 sink;    /* what frames were read into */

/* -x for any x, INT32_MIN included (negated as unsigned: no overflow in the
 * harness itself; the display gets INT32_MIN back, a hostile value too). */
static gint32
neg32 (gint32 x)
{
  return (gint32) (0u - (guint32) x);
}

static void
cursor_define (gpointer user_data, guint width, guint height, gint hot_x,
    gint hot_y, GBytes * bgra)
{
  FUZZ_CHECK (width >= 1 && width <= 512 && height >= 1 && height <= 512);
  FUZZ_CHECK (g_bytes_get_size (bgra) == (gsize) width * height * 4);
}

static void
cursor_move (gpointer user_data, gint x, gint y, gboolean visible)
{
}

/* Sizes as QEMU might send them: mostly small, sometimes anything. */
static guint32
fuzz_dim (FuzzInput * in)
{
  guint8 how = fuzz_u8 (in);

  if (how < 128)
    return how % 48;
  if (how < 192)
    return fuzz_u16 (in);
  return fuzz_u32 (in);
}

static guint32
fuzz_format (FuzzInput * in)
{
  guint8 how = fuzz_u8 (in);

  return how < 100 ? PIXMAN_x8r8g8b8 : how < 200 ? PIXMAN_a8r8g8b8
      : fuzz_u32 (in);
}

/* A payload length near what the sizes ask for. */
static gsize
fuzz_len (FuzzInput * in, guint64 want)
{
  guint8 how = fuzz_u8 (in);
  guint64 len = how < 160 ? want : how < 224 ? want - MIN (want, how % 8)
      : fuzz_u32 (in);

  return MIN (len, MAX_BYTES);
}

static GVariant *
bytes (gsize len)
{
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, pattern, len,
      TRUE, NULL, NULL);
}

/* The call's parameters, owned (as a GDBusMethodInvocation owns them)
 * until the next call. */
static GVariant *
own (GVariant * params)
{
  static GVariant *last;

  if (last)
    g_variant_unref (last);
  last = g_variant_ref_sink (params);
  return last;
}

static void
take_frame (OsvdiQemuDisplay * d, OsvdiQemuFrame * held, gboolean hold)
{
  OsvdiQemuFrame f;
  OsvdiQemuFrameResult r;

  memset (&f, 0xa5, sizeof (f));
  r = osvdi_qemu_display_next_frame (d, g_get_monotonic_time (), TRUE, &f);
  FUZZ_CHECK (r == OSVDI_QEMU_FRAME_OK || r == OSVDI_QEMU_FRAME_TIMEOUT);
  if (r != OSVDI_QEMU_FRAME_OK)
    return;
  FUZZ_CHECK (osvdi_qemu_display_has_scanout (d));
  if (f.dmabuf) {
    FUZZ_CHECK (f.dmabuf_fd >= 0 && !f.pixels && !f.data);
    close (f.dmabuf_fd);
    osvdi_qemu_display_frame_done (d, f.token);
    return;
  }
  FUZZ_CHECK (f.pixels && f.data && f.token == NULL);
  FUZZ_CHECK (f.fourcc == XR24 || f.fourcc == AR24);
  FUZZ_CHECK (f.width > 0 && f.height > 0);
  FUZZ_CHECK ((guint64) f.width * 4 <= f.stride);
  {
    /* Every byte a consumer may read: ASan checks the bounds. */
    guint64 size = (guint64) f.stride * f.height, i;

    for (i = 0; i < size; i += 61)
      sink += f.data[i];
    sink += f.data[size - 1];
  }
  if (hold) {
    if (held->pixels)
      osvdi_qemu_pixels_unref (held->pixels);
    *held = f;
  } else {
    osvdi_qemu_pixels_unref (f.pixels);
  }
}

static void
scanout_map (OsvdiQemuDisplay * d, FuzzInput * in)
{
  guint32 offset = fuzz_dim (in), w = fuzz_dim (in), h = fuzz_dim (in);
  guint32 stride = fuzz_u8 (in) < 200 ? w * 4 + fuzz_u8 (in) % 8
      : fuzz_dim (in), format = fuzz_format (in);
  gsize size = fuzz_len (in, (guint64) offset + (guint64) stride * h);
  gint fd = -1;
  const gchar *why;

  if (fuzz_u8 (in) < 240) {
    fd = memfd_create ("osvdi-fuzz-map", MFD_CLOEXEC);
    FUZZ_CHECK (fd >= 0);
    FUZZ_CHECK (ftruncate (fd, size) == 0);
  }
  why = osvdi_qemu_display_on_scanout_map (d, own (g_variant_new ("(huuuuu)", 0,
          offset, w, h, stride, format)), fd);
  if (!why) {
    FUZZ_CHECK (fd >= 0 && w && h && (guint64) w * 4 <= stride);
    FUZZ_CHECK ((guint64) offset + (guint64) stride * h <= size);
  }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  gsize i;

  pattern = g_malloc (MAX_BYTES);
  for (i = 0; i < MAX_BYTES; i++)
    pattern[i] = i * 7;
  dmabuf_memfd = memfd_create ("osvdi-fuzz-dmabuf", MFD_CLOEXEC);
  FUZZ_CHECK (dmabuf_memfd >= 0);
  /* GVariant keeps type information of recent types around and frees it
   * runs later: libFuzzer would see every run's mallocs and frees unequal
   * and scan for leaks each time (100 runs a second instead of
   * thousands). One value of each signature, kept, holds them for good. */
  keep[0] = g_variant_ref_sink (g_variant_new ("(uuuu@ay)", 0, 0, 0, 0,
          bytes (0)));
  keep[1] = g_variant_ref_sink (g_variant_new ("(iiiiuu@ay)", 0, 0, 0, 0, 0,
          0, bytes (0)));
  keep[2] = g_variant_ref_sink (g_variant_new ("(huuuutb)", 0, 0, 0, 0, 0,
          (guint64) 0, FALSE));
  keep[3] = g_variant_ref_sink (g_variant_new ("(huuuuu)", 0, 0, 0, 0, 0,
          0));
  keep[4] = g_variant_ref_sink (g_variant_new ("(iiii)", 0, 0, 0, 0));
  keep[5] = g_variant_ref_sink (g_variant_new ("(iiii@ay)", 0, 0, 0, 0,
          bytes (0)));
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static const OsvdiQemuDisplayCallbacks callbacks = {
    .cursor_define = cursor_define,
    .cursor_move = cursor_move,
  };
  FuzzInput in = { data, size };
  OsvdiQemuDisplay *d;
  OsvdiQemuFrame held = { 0 };
  guint ops = 0;

  if (!pattern)
    LLVMFuzzerInitialize (NULL, NULL);
  d = osvdi_qemu_display_new_unconnected (0, &callbacks, NULL);
  while (in.left && ops++ < 32) {
    guint8 op = fuzz_u8 (&in);

    switch (op % 10) {
      case 0:{
        guint32 w = fuzz_dim (&in), h = fuzz_dim (&in);
        guint32 stride = fuzz_u8 (&in) < 200 ? w * 4 + fuzz_u8 (&in) % 8
            : fuzz_dim (&in), format = fuzz_format (&in);

        osvdi_qemu_display_on_scanout (d, own (g_variant_new ("(uuuu@ay)",
                    w, h, stride, format, bytes (fuzz_len (&in,
                            (guint64) stride * h)))));
        break;
      }
      case 1:{
        gint32 x = fuzz_dim (&in), y = fuzz_dim (&in);
        gint32 w = fuzz_dim (&in), h = fuzz_dim (&in);
        guint32 stride = fuzz_u8 (&in) < 200 ? (guint32) w * 4
            : fuzz_dim (&in), format = fuzz_format (&in);

        if (op & 0x80)
          x = neg32 (x);
        osvdi_qemu_display_on_update (d, own (g_variant_new ("(iiiiuu@ay)",
                    x, y, w, h, stride, format, bytes (fuzz_len (&in,
                            (guint64) stride * (guint32) h)))));
        break;
      }
      case 2:{
        guint32 w = fuzz_dim (&in), h = fuzz_dim (&in);
        guint32 stride = fuzz_dim (&in), fourcc = fuzz_u32 (&in);
        guint64 modifier = fuzz_u8 (&in) < 200 ? 0 : fuzz_u64 (&in);
        gboolean y0_top = fuzz_u8 (&in) & 1;

        osvdi_qemu_display_on_scanout_dmabuf (d, own (g_variant_new
                ("(huuuutb)", 0, w, h, stride, fourcc, modifier, y0_top)),
            op & 0x80 ? -1 : dup (dmabuf_memfd));
        break;
      }
      case 3:
        scanout_map (d, &in);
        break;
      case 4:{
        gint32 x = fuzz_dim (&in), y = fuzz_dim (&in);
        gint32 w = fuzz_dim (&in), h = fuzz_dim (&in);

        if (op & 0x80)
          y = neg32 (y);
        osvdi_qemu_display_on_update_map (d, own (g_variant_new ("(iiii)",
                    x, y, w, h)));
        break;
      }
      case 5:{
        gint32 w = fuzz_dim (&in), h = fuzz_dim (&in);
        gint32 hx = fuzz_u32 (&in), hy = fuzz_u32 (&in);

        if (op & 0x80)
          w = neg32 (w);
        osvdi_qemu_display_on_cursor_define (d, own (g_variant_new
                ("(iiii@ay)", w, h, hx, hy, bytes (fuzz_len (&in,
                            (guint64) (guint32) w * (guint32) h * 4)))));
        break;
      }
      case 6:
        osvdi_qemu_display_on_disable (d);
        break;
      case 7:
      case 8:
        take_frame (d, &held, op % 10 == 8);
        break;
      default:
        if (held.pixels)
          osvdi_qemu_pixels_unref (held.pixels);
        held.pixels = NULL;
        break;
    }
  }
  take_frame (d, &held, FALSE);
  osvdi_qemu_display_free (d);
  own (g_variant_new ("()"));
  /* A frame outlives its display (the element's buffers do). */
  if (held.pixels) {
    sink += held.data[0];
    osvdi_qemu_pixels_unref (held.pixels);
  }
  return 0;
}
