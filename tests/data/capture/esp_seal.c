/*
 * esp_seal.c -- seals one packet into ESP (RFC 4303) for make_esp_sa.py.
 *
 *   esp_seal ENC ENCKEY AUTH AUTHKEY SPI SEQ NEXT [SEQ_HI] < payload.hex > esp.hex
 *
 * ENC: null, aes-cbc, 3des-cbc, aes-ctr, aes-gcm8/12/16; AUTH: null,
 * sha1-96, sha256-128, md5-96 (keys in hex, "-" for none). The IV is
 * derived from SEQ (deterministic test data). SEQ_HI: the SA has extended
 * sequence numbers (RFC 4303 2.2.1), SEQ_HI the high 32 bits, sent on no
 * wire: the HMAC covers them after the packet (3.3.2.1), GCM's AAD is SPI,
 * SEQ_HI, SEQ (RFC 4106 5). Built with OpenSSL's libcrypto
 * only: the decryption it is checked against is tshark's, and fs38's.
 */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t unhex(const char *s, uint8_t *out) {
    size_t n = 0;
    if (!strcmp(s, "-")) return 0;
    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1) exit(2);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) return 2;
    const char *enc = argv[1], *auth = argv[3];
    uint8_t ek[64], ak[128], in[70000], pkt[70200], iv[16];
    size_t eklen = unhex(argv[2], ek), aklen = unhex(argv[4], ak);
    uint32_t spi = (uint32_t)strtoul(argv[5], NULL, 0), seq = (uint32_t)strtoul(argv[6], NULL, 0);
    int next = atoi(argv[7]);
    bool esn = argc == 9;
    uint32_t seq_hi = esn ? (uint32_t)strtoul(argv[8], NULL, 0) : 0;
    uint8_t aad[12];
    size_t aad_len = esn ? 12 : 8;
    put32(aad, spi);
    put32(aad + (esn ? 8 : 4), seq);
    if (esn) put32(aad + 4, seq_hi);
    char hex[140001];
    if (!fgets(hex, sizeof hex, stdin)) return 2;
    hex[strcspn(hex, "\r\n")] = 0;
    size_t n = unhex(hex, in);
    bool gcm = !strncmp(enc, "aes-gcm", 7), ctr = !strcmp(enc, "aes-ctr");
    size_t block = !strcmp(enc, "aes-cbc") ? 16 : !strcmp(enc, "3des-cbc") ? 8 : 4;
    size_t ivlen = !strcmp(enc, "null") ? 0 : block == 16 ? 16 : block == 8 ? 8 : 8;
    size_t icv = gcm ? (size_t)atoi(enc + 7) : !strcmp(auth, "null") ? 0 : !strcmp(auth, "sha256-128") ? 16 : 12;
    for (size_t i = 0; i < ivlen; i++) iv[i] = (uint8_t)(seq * 31 + i * 7);
    /* plaintext: payload, padding 1, 2, 3 ..., pad length, next header */
    size_t pad = (block - (n + 2) % block) % block;
    for (size_t k = 0; k < pad; k++) in[n + k] = (uint8_t)(k + 1);
    in[n + pad] = (uint8_t)pad;
    in[n + pad + 1] = (uint8_t)next;
    size_t plen = n + pad + 2;
    put32(pkt, spi);
    put32(pkt + 4, seq);
    memcpy(pkt + 8, iv, ivlen);
    uint8_t *ct = pkt + 8 + ivlen;
    if (!strcmp(enc, "null")) {
        memcpy(ct, in, plen);
    } else {
        size_t klen = eklen - ((gcm || ctr) ? 4 : 0);
        const char *name = !strcmp(enc, "3des-cbc") ? "DES-EDE3-CBC"
                           : gcm ? (klen == 16 ? "AES-128-GCM" : klen == 24 ? "AES-192-GCM" : "AES-256-GCM")
                           : ctr ? (klen == 16 ? "AES-128-CTR" : klen == 24 ? "AES-192-CTR" : "AES-256-CTR")
                                 : (klen == 16 ? "AES-128-CBC" : klen == 24 ? "AES-192-CBC" : "AES-256-CBC");
        uint8_t nonce[16];
        const uint8_t *use_iv = iv;
        if (gcm || ctr) {
            memcpy(nonce, ek + klen, 4);
            memcpy(nonce + 4, iv, 8);
            memcpy(nonce + 12, "\0\0\0\1", 4);
            use_iv = nonce;
        }
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
        EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
        int len = 0, fin = 0;
        if (!c || !x || !EVP_EncryptInit_ex2(x, c, NULL, NULL, NULL)) return 3;
        if (gcm && !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL)) return 3;
        if (!EVP_EncryptInit_ex2(x, NULL, ek, use_iv, NULL)) return 3;
        EVP_CIPHER_CTX_set_padding(x, 0);
        if (gcm && !EVP_EncryptUpdate(x, NULL, &len, aad, (int)aad_len)) return 3;
        if (!EVP_EncryptUpdate(x, ct, &len, in, (int)plen) || !EVP_EncryptFinal_ex(x, ct + len, &fin)) return 3;
        if (gcm && !EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, (int)icv, ct + plen)) return 3;
        EVP_CIPHER_CTX_free(x);
        EVP_CIPHER_free(c);
    }
    size_t total = 8 + ivlen + plen;
    if (!gcm && icv) {
        const char *md = !strcmp(auth, "md5-96") ? "MD5" : !strcmp(auth, "sha256-128") ? "SHA256" : "SHA1";
        uint8_t mac[64];
        size_t mlen = 0;
        if (esn) put32(pkt + total, seq_hi); /* covered, then overwritten by the ICV */
        if (!EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, ak, aklen, pkt, total + (esn ? 4 : 0), mac, sizeof mac, &mlen))
            return 3;
        memcpy(pkt + total, mac, icv);
    }
    total += icv;
    for (size_t i = 0; i < total; i++) printf("%02x", pkt[i]);
    putchar('\n');
    return 0;
}
