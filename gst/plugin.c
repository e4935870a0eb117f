/* OSVDI - the osvdi GStreamer plugin
 * SPDX-License-Identifier: Apache-2.0
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#ifdef HAVE_SPICESINK
#include "gstspicesink.h"
#include "gstspiceencbin.h"
#endif
#ifdef HAVE_VFIODMABUFSRC
#include "gstvfiodmabufsrc.h"
#endif

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

#ifdef HAVE_SPICESINK
  ret |= GST_ELEMENT_REGISTER (spicesink, plugin);
  ret |= GST_ELEMENT_REGISTER (spiceencbin, plugin);
#endif
#ifdef HAVE_VFIODMABUFSRC
  ret |= GST_ELEMENT_REGISTER (vfiodmabufsrc, plugin);
#endif

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, osvdi,
    "OSVDI: VM desktops from mediated GPUs to SPICE clients",
    plugin_init, VERSION, "Apache 2.0", PACKAGE_NAME,
    "https://opendev.org/osvdi")
