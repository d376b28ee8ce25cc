# esp_seal.sh -- sourced by make_esp_sa.sh, make_esp_esn.sh and make_ims_aka.sh
# (from this folder): builds esp_seal.c into a temporary folder, removed on
# exit, and exports SEAL, its path, for pcapgen.esp_seal.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/esp_seal" esp_seal.c $(pkg-config --cflags --libs libcrypto)
export SEAL="$tmp/esp_seal"
