/*
 * The OTLP signals, one enum for every module: the receiver tells what a
 * request carries with it, the upstream client indexes its per-signal
 * senders with it.
 */
#ifndef DP_OTLP_SIGNAL_H
#define DP_OTLP_SIGNAL_H

typedef enum dp_signal {
    DP_SIGNAL_TRACES = 0,
    DP_SIGNAL_METRICS = 1,
    DP_SIGNAL_LOGS = 2,
    DP_SIGNAL_COUNT = 3,
} dp_signal;

#endif
