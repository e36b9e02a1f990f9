/* The HALCON extension package "dapoinspect" (operators over the inspection-tool plugin). */
#ifndef DAPOINSPECT_OPS_H
#define DAPOINSPECT_OPS_H

#include "halcon_shim.h"

/* Package error codes: DAPO_ERR_BASE + insp_status of the plugin (10101 invalid argument,
 * 10102 unsupported, 10103 recipe, 10104 model, 10105 image, 10106 memory, 10107 internal,
 * 10108 interface version, 10109 value too long), and DAPO_ERR_PLUGIN when the plugin library
 * cannot be loaded. */
#define DAPO_ERR_BASE   10100
#define DAPO_ERR_PLUGIN 10120

/* The package's operator table (exported by the operator library as this symbol). */
extern HSHIM_API const hs_package dapoinspect_hs_package;
/* The tool handle type (sem_type "inspection_tool"). */
const HHandleInfo *dapoinspect_handle_info(void);
/* Standard text of a package code, NULL for other codes. */
const char *dapoinspect_error_text(Herror code);

#endif
