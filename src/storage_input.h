/*
 * The persistent queue's replay as an input of the engine: registered
 * before the receivers, its start() reads back every segment a previous
 * run left (storage/storage.h) and re-ingests each valid record through the
 * receivers' own path (dp_ingest_replay: spans into the trace table,
 * metrics and logs into the upstream queue), so the receivers only listen
 * once everything acknowledged before a crash is in again. An input that
 * ends at once: stop() has nothing to do.
 */
#ifndef DP_STORAGE_INPUT_H
#define DP_STORAGE_INPUT_H

#include <stddef.h>

#include "engine.h"
#include "ingest.h"
#include "storage.h"

/** The plugin; its ctx comes from dp_storage_input_create(). */
extern const dp_input_plugin dp_storage_input_plugin;

/**
 * A context for dp_engine_add_input(); storage and ingest are borrowed and
 * must outlive the engine's start. `max_request_bytes` sizes the decode
 * memory of one record as the receivers size theirs. NULL on out of memory.
 */
void *dp_storage_input_create(dp_storage *storage, dp_ingest *ingest, size_t max_request_bytes);

#endif
