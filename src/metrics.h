/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every series joulepush writes, defined once: name, type, unit, labels (besides node and
 * external_labels) and help. The accountant, the grid-intensity source and the agent name
 * series through this table; the exposition takes help and type from it; remote-write
 * metadata will too. docs/reference/metrics.md lists the same rows, and
 * tests/check_store.c (test_metrics_reference) checks each of its columns against this
 * table.
 */
#ifndef JP_METRICS_H
#define JP_METRICS_H

#include <stddef.h>

/* X(ID, name, TYPE, unit, "label, label", help) */
#define JP_METRICS(X) \
	X(NODE_ENERGY_JOULES_TOTAL, "joulepush_node_energy_joules_total", JP_COUNTER, "J", "zone, mode, source", \
	  "Energy used by the node per RAPL zone and mode (active or idle), in joules.") \
	X(NODE_POWER_WATTS, "joulepush_node_power_watts", JP_GAUGE, "W", "zone, mode, source", \
	  "Average power of the node over the last interval per zone and mode, in watts.") \
	X(NODE_CPU_USAGE_RATIO, "joulepush_node_cpu_usage_ratio", JP_GAUGE, "ratio", "", \
	  "Busy CPU time of the node over the last interval divided by CPUs times the interval.") \
	X(NODE_CO2_GRAMS_TOTAL, "joulepush_node_co2_grams_total", JP_COUNTER, "g", "", \
	  "CO2-equivalent of the node's total energy times PUE, in grams.") \
	X(POD_ENERGY_JOULES_TOTAL, "joulepush_pod_energy_joules_total", JP_COUNTER, "J", "namespace, pod, pod_uid, zone, mode", \
	  "Energy attributed to the pod per zone and mode, in joules.") \
	X(POD_POWER_WATTS, "joulepush_pod_power_watts", JP_GAUGE, "W", "namespace, pod, pod_uid, zone", \
	  "Average power attributed to the pod over the last interval per zone, in watts.") \
	X(POD_CPU_SECONDS_TOTAL, "joulepush_pod_cpu_seconds_total", JP_COUNTER, "s", "namespace, pod, pod_uid", \
	  "CPU time used by the pod, in seconds.") \
	X(POD_CO2_GRAMS_TOTAL, "joulepush_pod_co2_grams_total", JP_COUNTER, "g", "namespace, pod, pod_uid", \
	  "CO2-equivalent of the pod's total energy times PUE, in grams.") \
	X(POD_EMBODIED_CO2_GRAMS_TOTAL, "joulepush_pod_embodied_co2_grams_total", JP_COUNTER, "g", "namespace, pod, pod_uid", \
	  "Embodied (hardware manufacturing) CO2-equivalent attributed to the pod by CPU share, in grams.") \
	X(CONTAINER_ENERGY_JOULES_TOTAL, "joulepush_container_energy_joules_total", JP_COUNTER, "J", "namespace, pod, pod_uid, container, container_id, zone, mode", \
	  "Energy attributed to the container per zone and mode, in joules.") \
	X(CONTAINER_CPU_SECONDS_TOTAL, "joulepush_container_cpu_seconds_total", JP_COUNTER, "s", "namespace, pod, pod_uid, container, container_id", \
	  "CPU time used by the container, in seconds.") \
	X(NAMESPACE_ENERGY_JOULES_TOTAL, "joulepush_namespace_energy_joules_total", JP_COUNTER, "J", "namespace, zone, mode", \
	  "Energy attributed to the pods of the namespace per zone and mode, in joules.") \
	X(NAMESPACE_CO2_GRAMS_TOTAL, "joulepush_namespace_co2_grams_total", JP_COUNTER, "g", "namespace", \
	  "CO2-equivalent of the namespace's total energy times PUE, in grams.") \
	X(NODE_CARBON_FREE_ENERGY_JOULES_TOTAL, "joulepush_node_carbon_free_energy_joules_total", JP_COUNTER, "J", "", \
	  "The node's total energy times the grid's carbon-free share in force, in joules.") \
	X(POD_CARBON_FREE_ENERGY_JOULES_TOTAL, "joulepush_pod_carbon_free_energy_joules_total", JP_COUNTER, "J", "namespace, pod, pod_uid", \
	  "The pod's total energy times the grid's carbon-free share in force, in joules.") \
	X(NAMESPACE_CARBON_FREE_ENERGY_JOULES_TOTAL, "joulepush_namespace_carbon_free_energy_joules_total", JP_COUNTER, "J", "namespace", \
	  "The namespace's total energy times the grid's carbon-free share in force, in joules.") \
	X(NODE_CONVERTED_ENERGY_JOULES_TOTAL, "joulepush_node_converted_energy_joules_total", JP_COUNTER, "J", "intensity_source", \
	  "The node's total energy converted to CO2 with an intensity of this source (fallback included), in joules.") \
	X(SYSTEM_ENERGY_JOULES_TOTAL, "joulepush_system_energy_joules_total", JP_COUNTER, "J", "zone, mode", \
	  "Energy attributed to host processes and the kernel outside any pod, in joules.") \
	X(NODE_POWER_BOUND_WATTS, "joulepush_node_power_bound_watts", JP_GAUGE, "W", "zone, bound", \
	  "Low and high bound of the power model's estimate of the node's power per zone (source model only), in watts.") \
	X(GPU_ENERGY_JOULES_TOTAL, "joulepush_gpu_energy_joules_total", JP_COUNTER, "J", "gpu, uuid, model", \
	  "Energy used by the GPU, in joules.") \
	X(GPU_UTILIZATION_RATIO, "joulepush_gpu_utilization_ratio", JP_GAUGE, "ratio", "gpu, uuid, model", \
	  "Share of the last interval in which the GPU ran a kernel.") \
	X(GPU_READ_ERRORS_TOTAL, "joulepush_gpu_read_errors_total", JP_COUNTER, "", "gpu, uuid, model", \
	  "NVML calls for the GPU that failed; an interval whose energy or utilisation could not be read is skipped.") \
	X(GRID_CARBON_INTENSITY_GRAMS_PER_KWH, "joulepush_grid_carbon_intensity_grams_per_kwh", JP_GAUGE, "g/kWh", "grid_zone, source, signal", \
	  "Carbon intensity of the grid in force, in grams CO2-equivalent per kWh: the average one, and a marginal source's rate.") \
	X(GRID_SIGNAL_INDEX_RATIO, "joulepush_grid_signal_index_ratio", JP_GAUGE, "ratio", "grid_zone, source", \
	  "Where the marginal rate in force ranks among the recent ones (WattTime's signal index): 0 cleanest, 1 dirtiest.") \
	X(GRID_CARBON_FREE_RATIO, "joulepush_grid_carbon_free_ratio", JP_GAUGE, "ratio", "grid_zone, source", \
	  "Share of the grid's generation that is renewable or nuclear, with the intensity in force.") \
	X(GRID_GENERATION_MEGAWATTS, "joulepush_grid_generation_megawatts", JP_GAUGE, "MW", "grid_zone, psr_type, fuel", \
	  "Grid generation per production type, in megawatts.") \
	X(GRID_RENEWABLE_RATIO, "joulepush_grid_renewable_ratio", JP_GAUGE, "ratio", "grid_zone", \
	  "Share of renewable sources in the grid's generation.") \
	X(GRID_FOSSIL_RATIO, "joulepush_grid_fossil_ratio", JP_GAUGE, "ratio", "grid_zone", \
	  "Share of coal, gas and oil in the grid's actual generation.") \
	X(GRID_CARBON_INTENSITY_FORECAST_GRAMS_PER_KWH, "joulepush_grid_carbon_intensity_forecast_grams_per_kwh", JP_GAUGE, "g/kWh", "grid_zone, source, signal, horizon", \
	  "Forecast grid carbon intensity in force at now + horizon, in grams CO2-equivalent per kWh.") \
	X(GRID_GREENEST_WINDOW_START_SECONDS, "joulepush_grid_greenest_window_start_seconds", JP_GAUGE, "s", "grid_zone, window", \
	  "Seconds from now to the start of the greenest window of this length within the forecast horizon (0: now).") \
	X(GRID_GREENEST_WINDOW_GRAMS_PER_KWH, "joulepush_grid_greenest_window_grams_per_kwh", JP_GAUGE, "g/kWh", "grid_zone, window", \
	  "Mean forecast intensity over the greenest window of this length.") \
	X(GRID_CARBON_INTENSITY_RANK_RATIO, "joulepush_grid_carbon_intensity_rank_ratio", JP_GAUGE, "ratio", "grid_zone", \
	  "Share of the forecast points within the horizon that are greener than now: 0 greenest, 1 dirtiest.") \
	X(GRID_RENEWABLE_SURPLUS_RATIO, "joulepush_grid_renewable_surplus_ratio", JP_GAUGE, "ratio", "grid_zone, horizon", \
	  "Forecast wind and solar generation over the forecast load at now + horizon (ENTSO-E, carbon.forecast.surplus).") \
	X(GRID_DAY_AHEAD_PRICE, "joulepush_grid_day_ahead_price", JP_GAUGE, "", "grid_zone, currency, horizon", \
	  "Day-ahead price per MWh at now + horizon, in the currency (ENTSO-E, carbon.forecast.surplus).") \
	X(GRID_SURPLUS_WINDOW_START_SECONDS, "joulepush_grid_surplus_window_start_seconds", JP_GAUGE, "s", "grid_zone", \
	  "Seconds from now to the next time within the horizon when wind and solar reach the load or the price is at most 0 (0: now).") \
	X(GRID_FORECAST_INFO, "joulepush_grid_forecast_info", JP_GAUGE, "", "grid_zone, source, method, signal", \
	  "The forecast in use; signal=average: an average (attributional) intensity, not a marginal one.") \
	X(BUILD_INFO, "joulepush_build_info", JP_GAUGE, "", "version, collector, power_source", \
	  "Version, collector and power source of the running agent.") \
	X(BPF_MAP_FULL_TOTAL, "joulepush_bpf_map_full_total", JP_COUNTER, "", "", \
	  "Inserts the eBPF per-cgroup map refused because it was full; the containers it missed are read from cpu.stat.") \
	X(REMOTE_SAMPLES_TOTAL, "joulepush_remote_samples_total", JP_COUNTER, "", "remote, outcome, reason", \
	  "Samples handled per remote-write endpoint by outcome (sent, retried, dropped; drops by reason).") \
	X(REMOTE_SENT_BYTES_TOTAL, "joulepush_remote_sent_bytes_total", JP_COUNTER, "bytes", "remote", \
	  "Compressed request bytes the remote acknowledged with a 2xx.") \
	X(REMOTE_PENDING_SAMPLES, "joulepush_remote_pending_samples", JP_GAUGE, "", "remote", \
	  "Samples queued for the remote and not yet sent.") \
	X(REMOTE_QUEUE_BYTES, "joulepush_remote_queue_bytes", JP_GAUGE, "bytes", "remote", \
	  "Bytes of the remote's on-disk queue.") \
	X(REMOTE_LAST_SUCCESS_TIMESTAMP_SECONDS, "joulepush_remote_last_success_timestamp_seconds", JP_GAUGE, "s", "remote", \
	  "Unix time of the last successful send to the remote, in seconds.") \
	X(COLLECTIONS_TOTAL, "joulepush_collections_total", JP_COUNTER, "", "", \
	  "Collection rounds run.") \
	X(CARBON_REFRESH_FAILURES_TOTAL, "joulepush_carbon_refresh_failures_total", JP_COUNTER, "", "source", \
	  "Refreshes of the live grid intensity source that failed.") \
	X(KEPLER_NODE_CPU_JOULES_TOTAL, "kepler_node_cpu_joules_total", JP_COUNTER, "", "", \
	  "Energy consumption of cpu at node level in joules.") \
	X(KEPLER_NODE_CPU_ACTIVE_JOULES_TOTAL, "kepler_node_cpu_active_joules_total", JP_COUNTER, "", "", \
	  "Energy consumption of cpu in active state at node level in joules.") \
	X(KEPLER_NODE_CPU_IDLE_JOULES_TOTAL, "kepler_node_cpu_idle_joules_total", JP_COUNTER, "", "", \
	  "Energy consumption of cpu in idle state at node level in joules.") \
	X(KEPLER_NODE_CPU_WATTS, "kepler_node_cpu_watts", JP_GAUGE, "", "", \
	  "Power consumption of cpu at node level in watts.") \
	X(KEPLER_NODE_CPU_ACTIVE_WATTS, "kepler_node_cpu_active_watts", JP_GAUGE, "", "", \
	  "Power consumption of cpu in active state at node level in watts.") \
	X(KEPLER_NODE_CPU_IDLE_WATTS, "kepler_node_cpu_idle_watts", JP_GAUGE, "", "", \
	  "Power consumption of cpu in idle state at node level in watts.") \
	X(KEPLER_NODE_CPU_USAGE_RATIO, "kepler_node_cpu_usage_ratio", JP_GAUGE, "", "", \
	  "CPU usage ratio of a node (value between 0.0 and 1.0).") \
	X(KEPLER_NODE_GPU_JOULES_TOTAL, "kepler_node_gpu_joules_total", JP_COUNTER, "", "", \
	  "Total energy consumption of GPU at node level in joules.") \
	X(KEPLER_NODE_GPU_WATTS, "kepler_node_gpu_watts", JP_GAUGE, "", "", \
	  "Total power consumption of GPU at node level in watts.") \
	X(KEPLER_POD_CPU_JOULES_TOTAL, "kepler_pod_cpu_joules_total", JP_COUNTER, "", "", \
	  "Energy consumption of cpu at pod level in joules.") \
	X(KEPLER_POD_CPU_WATTS, "kepler_pod_cpu_watts", JP_GAUGE, "", "", \
	  "Power consumption of cpu at pod level in watts.") \
	X(KEPLER_CONTAINER_CPU_JOULES_TOTAL, "kepler_container_cpu_joules_total", JP_COUNTER, "", "", \
	  "Energy consumption of cpu at container level in joules.") \
	X(KEPLER_CONTAINER_CPU_WATTS, "kepler_container_cpu_watts", JP_GAUGE, "", "", \
	  "Power consumption of cpu at container level in watts.") \
	X(COLLECTION_ERRORS_TOTAL, "joulepush_collection_errors_total", JP_COUNTER, "", "", \
	  "Collection rounds that met an error.") \
	X(STORE_SERIES, "joulepush_store_series", JP_GAUGE, "", "", \
	  "Series live in the store.") \
	X(NODE_IMPLAUSIBLE_READINGS_TOTAL, "joulepush_node_implausible_readings_total", JP_COUNTER, "", "zone", \
	  "Energy or power readings refused because they implied more power than the source can draw.") \
	X(RELABEL_LIMIT_HITS_TOTAL, "joulepush_relabel_limit_hits_total", JP_COUNTER, "", "remote", \
	  "Relabelling matches that hit a matcher limit and could not be decided.") \
	X(STATE_SAVE_ERRORS_TOTAL, "joulepush_state_save_errors_total", JP_COUNTER, "", "", \
	  "Rounds whose counters could not be saved to state.dir.")

enum jp_metric_type { JP_COUNTER, JP_GAUGE };

enum jp_metric_id {
#define JP_METRIC_ENUM(id, name, type, unit, labels, help) JP_M_##id,
	JP_METRICS(JP_METRIC_ENUM)
#undef JP_METRIC_ENUM
	JP_M_COUNT
};

struct jp_metric_def {
	const char *name;
	enum jp_metric_type type;
	const char *unit;         /* as in docs/reference/metrics.md; "" when none */
	const char *labels;       /* "zone, mode, source"; "" when none */
	const char *help;
};

/* The definition of id (id < JP_M_COUNT). */
const struct jp_metric_def *jp_metric(enum jp_metric_id id);
/* Shorthand: the name of id. */
static inline const char *jp_metric_name(enum jp_metric_id id)
{
	return jp_metric(id)->name;
}
/* The definition of the metric called name, or NULL. */
const struct jp_metric_def *jp_metric_find(const char *name);
/* "counter" or "gauge". */
const char *jp_metric_type_name(enum jp_metric_type t);
/* The unit as a word for metadata (remote write 2.0, OpenMetrics): "joules", "watts",
 * "grams", "seconds", "ratio", "bytes", "megawatts", "grams_per_kwh"; "" when none. */
const char *jp_metric_unit_word(const struct jp_metric_def *m);

/* The total-energy basis (docs/reference/metrics.md "Total energy"), the one definition the
 * CO2 counters, `joulepush top` and `joulepush report` share: platform where the node has a
 * power meter (it sees the GPUs too); else psys where present, else package + dram (core
 * and uncore lie inside package); plus gpu. */
enum jp_basis_zone { JP_BASIS_PACKAGE, JP_BASIS_DRAM, JP_BASIS_PSYS, JP_BASIS_PLATFORM, JP_BASIS_GPU, JP_BASIS_N };

/* The zone label value of a basis zone ("package", ...). */
const char *jp_basis_zone_name(enum jp_basis_zone z);

/* The basis zone of a zone label value, or -1 for one outside the basis (core, uncore). */
int jp_basis_zone_of(const char *zone);

/* The total of v (indexed by basis zone) over the zones present (bit z of mask). */
double jp_basis_total(const double v[JP_BASIS_N], unsigned mask);

#endif
