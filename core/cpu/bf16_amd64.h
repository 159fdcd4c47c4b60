// Shared by quant_amx_amd64.s and quant_amd64.s.

// CVTNE2PS2BF16_Z0_Z1_Z3 is VCVTNE2PS2BF16 zmm3, zmm1, zmm0 (Intel
// operand order), which the Go assembler does not know: Z3's 32 words are
// Z0's 16 float32s rounded to bf16, then Z1's. EVEX.512.F2.0F38.W0 72 /r.
#define CVTNE2PS2BF16_Z0_Z1_Z3 BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD8
