/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of NVIDIA's NVML C API that joulepush uses, declared from NVIDIA's published API
 * documentation (the NVML API Reference Guide), so that the agent builds where no NVIDIA
 * software is installed and loads the library with dlopen() at run time
 * (docs/model.md "GPU energy"). tests/nvml_standin.c implements the same entry points.
 *
 * Only what is needed: the opaque device handle, the return code, and three structures.
 * The structure layouts are the documented ones (nvmlUtilization_t; nvmlProcessInfo_t
 * as nvmlDeviceGetComputeRunningProcesses_v3 fills it; nvmlProcessUtilizationSample_t).
 */
#ifndef JP_COLLECT_NVML_API_H
#define JP_COLLECT_NVML_API_H

typedef struct jp_nvml_device *nvmlDevice_t;   /* opaque in NVML too */
typedef int nvmlReturn_t;

enum {
	JP_NVML_SUCCESS = 0,
	JP_NVML_ERROR_UNINITIALIZED = 1,
	JP_NVML_ERROR_INVALID_ARGUMENT = 2,
	JP_NVML_ERROR_NOT_SUPPORTED = 3,
	JP_NVML_ERROR_NO_PERMISSION = 4,
	JP_NVML_ERROR_NOT_FOUND = 6,
	JP_NVML_ERROR_INSUFFICIENT_SIZE = 7,
	JP_NVML_ERROR_GPU_IS_LOST = 15,
	JP_NVML_ERROR_UNKNOWN = 999,
};

/* gpuInstanceId / computeInstanceId of a process outside any MIG instance. */
#define JP_NVML_VALUE_NOT_AVAILABLE 0xFFFFFFFFu

typedef struct {
	unsigned int gpu;       /* percent of the sample period a kernel ran */
	unsigned int memory;    /* percent of it device memory was read or written */
} nvmlUtilization_t;

typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;     /* JP_NVML_VALUE_NOT_AVAILABLE outside MIG */
	unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
	unsigned int pid;
	unsigned long long timeStamp;   /* CPU timestamp in microseconds */
	unsigned int smUtil;            /* SM (3D/compute) utilisation, percent */
	unsigned int memUtil;
	unsigned int encUtil;
	unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

/* The entry points, in the order of the function table in collect/gpu.c. */
#define JP_NVML_FUNCS(X) \
	X(nvmlReturn_t, nvmlInit_v2, (void)) \
	X(nvmlReturn_t, nvmlShutdown, (void)) \
	X(const char *, nvmlErrorString, (nvmlReturn_t result)) \
	X(nvmlReturn_t, nvmlDeviceGetCount_v2, (unsigned int *deviceCount)) \
	X(nvmlReturn_t, nvmlDeviceGetHandleByIndex_v2, (unsigned int index, nvmlDevice_t *device)) \
	X(nvmlReturn_t, nvmlDeviceGetUUID, (nvmlDevice_t device, char *uuid, unsigned int length)) \
	X(nvmlReturn_t, nvmlDeviceGetName, (nvmlDevice_t device, char *name, unsigned int length)) \
	X(nvmlReturn_t, nvmlDeviceGetTotalEnergyConsumption, (nvmlDevice_t device, unsigned long long *energy)) \
	X(nvmlReturn_t, nvmlDeviceGetPowerUsage, (nvmlDevice_t device, unsigned int *power)) \
	X(nvmlReturn_t, nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t device, unsigned int *limit)) \
	X(nvmlReturn_t, nvmlDeviceGetUtilizationRates, (nvmlDevice_t device, nvmlUtilization_t *utilization)) \
	X(nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses_v3, \
	  (nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)) \
	X(nvmlReturn_t, nvmlDeviceGetProcessUtilization, \
	  (nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization, unsigned int *processSamplesCount, \
	   unsigned long long lastSeenTimeStamp))

#endif
