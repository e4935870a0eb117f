/* OSVDI - client (absolute) mouse mode without a real QXL device
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spiceclientmouse.h"

#include <stdint.h>
#include <string.h>

#define SURFACE_SIZE 64

/* The transient device has no commands and no resources: every callback
 * answers "nothing here". */
static void
qxl_attached_worker (QXLInstance * qin)
{
}

static void
qxl_set_compression_level (QXLInstance * qin, int level)
{
}

static void
qxl_set_mm_time (QXLInstance * qin, uint32_t mm_time)
{
}

static void
qxl_get_init_info (QXLInstance * qin, QXLDevInitInfo * info)
{
  memset (info, 0, sizeof (*info));
  info->num_memslots_groups = 2;
  info->num_memslots = 8;
  info->memslot_gen_bits = 8;
  info->memslot_id_bits = 8;
  info->n_surfaces = 1;
}

static int
qxl_get_command (QXLInstance * qin, struct QXLCommandExt *cmd)
{
  return 0;
}

static int
qxl_req_notification (QXLInstance * qin)
{
  return 1;
}

static void
qxl_release_resource (QXLInstance * qin, struct QXLReleaseInfoExt info)
{
}

static void
qxl_notify_update (QXLInstance * qin, uint32_t update_id)
{
}

static int
qxl_flush_resources (QXLInstance * qin)
{
  return 0;
}

static void
qxl_async_complete (QXLInstance * qin, uint64_t cookie)
{
}

static void
qxl_update_area_complete (QXLInstance * qin, uint32_t surface_id,
    struct QXLRect *rects, uint32_t n)
{
}

static void
qxl_set_client_capabilities (QXLInstance * qin, uint8_t present,
    uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

static int
qxl_client_monitors_config (QXLInstance * qin, VDAgentMonitorsConfig * config)
{
  return 0;
}

/* set_mm_time is deprecated but still part of the interface's layout. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const QXLInterface transient_qxl_interface = {
  .base = {
        .type = SPICE_INTERFACE_QXL,
        .description = "OSVDI transient QXL (client mouse mode)",
        .major_version = SPICE_INTERFACE_QXL_MAJOR,
        .minor_version = SPICE_INTERFACE_QXL_MINOR,
      },
  .attached_worker = qxl_attached_worker,
  .set_compression_level = qxl_set_compression_level,
  .set_mm_time = qxl_set_mm_time,
  .get_init_info = qxl_get_init_info,
  .get_command = qxl_get_command,
  .req_cmd_notification = qxl_req_notification,
  .release_resource = qxl_release_resource,
  .get_cursor_command = qxl_get_command,
  .req_cursor_notification = qxl_req_notification,
  .notify_update = qxl_notify_update,
  .flush_resources = qxl_flush_resources,
  .async_complete = qxl_async_complete,
  .update_area_complete = qxl_update_area_complete,
  .set_client_capabilities = qxl_set_client_capabilities,
  .client_monitors_config = qxl_client_monitors_config,
};
#pragma GCC diagnostic pop

void
osvdi_spice_enable_client_mouse (SpiceServer * server)
{
  QXLInstance qxl = {.base = {.sif = &transient_qxl_interface.base},.id = 0 };
  /* Guest memory is our memory: one slot over the whole address space. */
  QXLDevMemSlot slot = {
    .slot_group_id = 0,.slot_id = 0,.generation = 0,
    .virt_start = 0,.virt_end = UINTPTR_MAX,.addr_delta = 0,
  };
  guint8 *pixels = g_malloc0 (SURFACE_SIZE * SURFACE_SIZE * 4);
  QXLDevSurfaceCreate surface = {
    .width = SURFACE_SIZE,.height = SURFACE_SIZE,
    .stride = -SURFACE_SIZE * 4,
    .format = SPICE_SURFACE_FMT_32_xRGB,
    .mouse_mode = 1,            /* the flag that allows client mouse mode */
    .mem = (uintptr_t) pixels,
    .group_id = 0,
  };

  spice_server_add_interface (server, &qxl.base);
  spice_qxl_add_memslot (&qxl, &slot);
  spice_qxl_create_primary_surface (&qxl, 0, &surface);
  /* The worker thread goes with the instance; nothing reads the surface
   * afterwards. */
  spice_server_remove_interface (&qxl.base);
  g_free (pixels);
}
