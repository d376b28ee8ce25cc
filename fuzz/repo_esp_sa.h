/*
 * repo_esp_sa.h -- the ESP SAs of tests/data/capture/esp_sa.keys for the
 * harnesses that decrypt the seeds made from esp_sa.pcap (fuzz_decode,
 * fuzz_esp_sa): loaded once per process, NULL away from the repository
 * (scripts/fuzz.sh runs them from its root).
 */
#ifndef FS_FUZZ_REPO_ESP_SA_H
#define FS_FUZZ_REPO_ESP_SA_H

#include "capture/cap.h"

static const cap_esp_sas *repo_esp_sas(void) {
    static cap_esp_sas *sas;
    static bool tried;
    if (!tried) {
        tried = true;
        fs_err e;
        sas = cap_esp_sas_load("tests/data/capture/esp_sa.keys", &e);
    }
    return sas;
}

#endif
