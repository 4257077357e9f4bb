#!/usr/bin/env bash
# Seed corpus of nasty files for fuzz_reader, written into $1.  Byte 0 of
# each seed picks the profile (0 generic, 1 LCL, 2 UCI, 3 ESB, 4 wide,
# 5 NEM12; +128 uses a DST zone), byte 1 the chunk size.
set -euo pipefail
out=$1
mkdir -p "$out"
seed() { printf "\\x$(printf %02x "$1")\\x$(printf %02x "$2")" > "$out/$3"; cat >> "$out/$3"; }
hdr='meter_id,timestamp,value,unit'
printf '%s\nM1,2024-01-01T00:00:00Z,1.5,kW\nM1,2024-01-01T00:15:00Z,1500,W\n' "$hdr" | seed 0 7 generic_ok
head -c 4096 /dev/urandom | seed 0 3 binary_junk
{ printf '%s\n' "$hdr"; head -c 2048 /dev/urandom; } | seed 0 200 header_then_junk
printf '%s\nM1,2024-01-01T00:00:00Z,1\0,kW\n\0\0\0\n' "$hdr" | seed 0 1 nul_bytes
{ printf '%s\nM1,2024-01-01T00:00:00Z,"' "$hdr"; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf '",kW\nM1,2024-01-01T00:15:00Z,1,kW\n'; } | seed 0 255 ten_mb_field
printf '%s\nM1,2024-01-01T00:00:00Z,"1,kW\nM1,2024-01-01T00:15:00Z,2,kW\n' "$hdr" | seed 0 5 unterminated_quote
printf '%s\rM1,2024-01-01T00:00:00Z,1,kW\r\nM1,2024-01-01T00:15:00Z,2,kW\n\rM1,2024-01-01T00:30:00Z,3,kW\r' "$hdr" | seed 0 2 mixed_line_endings
printf '\xef\xbb\xbf%s\r\nM1,2024-01-01T00:00:00Z,1,kW\r\n' "$hdr" | seed 0 1 bom_crlf
printf 'LCLid,tstp,energy(kWh/hh)\nM\xfcller,2013-01-01 00:00:00, 0.219 \n' | seed 1 9 latin1
{ printf 'meter_id,timestamp,value,unit'; for i in $(seq 1 996); do printf ',c%d' "$i"; done; printf '\n'; printf 'M1,2024-01-01T00:00:00Z,1,kW'; for i in $(seq 1 996); do printf ',%d' "$i"; done; printf '\n'; } | seed 0 40 thousand_columns
printf '%s\n\n\n   \n\t\nM1,2024-01-01T00:00:00Z,1,kW\n\n' "$hdr" | seed 0 4 empty_lines
printf 'Date;Time;Global_active_power;x\r\n16/12/2006;17:24:00;4.216;1\r\n21/12/2006;11:23:00;?;?\r\n27/12/2006;18:46' | seed 130 11 uci_truncated
printf 'MPRN,Meter Serial Number,Read Value,Read Type,Read Date and End Time\nX,Y,1.0,Active Import Interval (kW),29-10-2023 01:30\nX,Y,1.0,Active Import Interval (kW),29-10-2023 01:30\nX,Y,1.0,Active Import Interval (kW),26-03-2023 01:30\n' | seed 131 6 esb_dst
{ printf 'meter_id,date'; for h in $(seq 0 23); do printf ',%02d:00' "$h"; done; printf '\nW1,2024-02-01'; for h in $(seq 0 23); do printf ',0.%d' "$h"; done; printf '\n'; } | seed 4 13 wide
{ printf '100,NEM12,200402070911,MDA1,Ret1\r\n200,NMI1,E1,1,E1,N1,01,kWh,30,20040301\r\n300,20040201'; for k in $(seq 1 48); do printf ',1.0'; done; printf ',V,,,20040202120025,\r\n400,1,10,E52,,\r\n400,0,99,A,,\r\n900\r\n'; } | seed 5 17 nem12
