/*
 * insp_aka.h -- ESP keys of VoLTE's Gm learned from the IMS AKA registration.
 *
 * 3GPP TS 33.203: a UE registers in the clear, offering its SPIs and ports
 * (Security-Client); the S-CSCF answers the P-CSCF with a 401 whose
 * challenge carries the session keys (ck, ik: TS 24.229, on Mw); the P-CSCF
 * takes them out and answers the UE with its own SPIs and ports
 * (Security-Server). From then on SIP runs in ESP between them, keyed with
 * ck and ik. A capture that holds both legs -- taken on the P-CSCF, or on a
 * link carrying Gm and Mw -- holds everything needed to read that ESP, and
 * this learner puts the four SAs of each agreement into the keyring the
 * decoders use (cap_esp_keyring).
 *
 * Owns: reading Security-Client, Security-Server and the ck/ik challenge
 * parameters, the bounded memory of half-seen agreements (offers by
 * Call-ID; keys, and UE answers waiting for theirs, by nonce), TS 33.203
 * Annex I's key expansion, the SAs.
 * Must not touch: decryption (cap_esp.c), detection. Thread-safe (a mutex):
 * the reader and the workers may both learn.
 */
#ifndef FS_INSP_AKA_H
#define FS_INSP_AKA_H

#include "../capture/cap.h"
#include "../sip/sip.h"

typedef struct insp_aka insp_aka;

/* SAs go to ring (which must outlive it); seed keys the hashes. */
insp_aka *insp_aka_new(cap_esp_keyring *ring, uint64_t seed);
void insp_aka_free(insp_aka *a);
/* Cheap test: could this payload carry part of an agreement (a REGISTER, a
 * 401)? For a reader that would otherwise parse everything. */
bool insp_aka_candidate(const uint8_t *payload, uint32_t len);
/* m, parsed from p: remember what it holds of an agreement; a complete one
 * becomes four SAs. */
void insp_aka_message(insp_aka *a, const cap_payload *p, const sip_msg *m);
/* Agreements turned into SAs so far. */
uint64_t insp_aka_agreements(insp_aka *a);
/* Bytes it holds (the memories are made at the first offer or keys). */
size_t insp_aka_memory(insp_aka *a);

#endif
