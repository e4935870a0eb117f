/* OSVDI - shared by the fuzz targets (tests/fuzz)
 * SPDX-License-Identifier: Apache-2.0
 *
 * Each target is one libFuzzer entry point, LLVMFuzzerTestOneInput(); with
 * clang it links libFuzzer (fuzz-<target>), with any compiler replay.c
 * (fuzz-replay-<target>: the corpus, once, as a meson test).
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

G_BEGIN_DECLS

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

/* A promise the code under test broke: a crash libFuzzer keeps. */
#define FUZZ_CHECK(cond) G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
          #cond); \
      abort (); \
    } \
  } G_STMT_END

/* The input as a stream of fields; past its end every field reads 0. */
typedef struct
{
  const guint8 *p;
  gsize left;
} FuzzInput;

static inline guint8
fuzz_u8 (FuzzInput * in)
{
  guint8 v = 0;

  if (in->left) {
    v = *in->p++;
    in->left--;
  }
  return v;
}

static inline guint16
fuzz_u16 (FuzzInput * in)
{
  guint16 v = fuzz_u8 (in);

  return v | (guint16) fuzz_u8 (in) << 8;
}

static inline guint32
fuzz_u32 (FuzzInput * in)
{
  guint32 v = fuzz_u16 (in);

  return v | (guint32) fuzz_u16 (in) << 16;
}

static inline guint64
fuzz_u64 (FuzzInput * in)
{
  guint64 v = fuzz_u32 (in);

  return v | (guint64) fuzz_u32 (in) << 32;
}

/* Up to @max bytes of the input (a length byte pair first), in place. */
static inline const guint8 *
fuzz_bytes (FuzzInput * in, gsize max, gsize * len)
{
  const guint8 *p;
  gsize n = fuzz_u16 (in);

  n = MIN (MIN (n, max), in->left);
  p = in->p;
  in->p += n;
  in->left -= n;
  *len = n;
  return p;
}

/* The input as a NUL-terminated string (what a file or D-Bus string can
 * hold: it stops at the first NUL). */
static inline gchar *
fuzz_string (const uint8_t * data, size_t size)
{
  return g_strndup ((const gchar *) data, size);
}

G_END_DECLS
