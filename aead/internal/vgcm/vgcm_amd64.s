//go:build !purego

#include "textflag.h"

// AES-GCM with VAES and VPCLMULQDQ on 256-bit registers: two AES blocks
// per instruction for the counter mode, two GHASH multiplications per
// instruction. Only Y0-Y15 are used (no EVEX encoding).
//
// GHASH works in the byte-reflected domain of Gueron and Kounavis (Intel's
// "Carry-Less Multiplication and Its Usage for Computing the GCM Mode"):
// blocks are byte-reversed, the hash key is H·x mod P (so that the
// product of two reversed values needs no shift), and a 256-bit product is
// reduced with two multiplications by the constant 0xc2 << 56.
//
// Round keys are stored twice each (32 bytes) so that one load serves both
// lanes of a Y register.

DATA bswapMask<>+0x00(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x08(SB)/8, $0x0001020304050607
DATA bswapMask<>+0x10(SB)/8, $0x08090a0b0c0d0e0f
DATA bswapMask<>+0x18(SB)/8, $0x0001020304050607
GLOBL bswapMask<>(SB), (NOPTR+RODATA), $32

DATA gcmPoly<>+0x00(SB)/8, $0x0000000000000001
DATA gcmPoly<>+0x08(SB)/8, $0xc200000000000000
GLOBL gcmPoly<>(SB), (NOPTR+RODATA), $16

// Counter increments in the byte-reversed domain (the 32-bit block
// counter is then dword 0 of each lane): lane 1 one ahead of lane 0, and
// two for both lanes.
DATA inc01<>+0x00(SB)/8, $0
DATA inc01<>+0x08(SB)/8, $0
DATA inc01<>+0x10(SB)/8, $1
DATA inc01<>+0x18(SB)/8, $0
GLOBL inc01<>(SB), (NOPTR+RODATA), $32

DATA inc22<>+0x00(SB)/8, $2
DATA inc22<>+0x08(SB)/8, $0
DATA inc22<>+0x10(SB)/8, $2
DATA inc22<>+0x18(SB)/8, $0
GLOBL inc22<>(SB), (NOPTR+RODATA), $32

// KEY128 derives the next AES-128 round key into X1 from X1 and the
// AESKEYGENASSIST result in X2 (X3 scratch).
#define KEY128 \
	PSHUFD $0xff, X2, X2; \
	MOVOU X1, X3; PSLLDQ $4, X3; PXOR X3, X1; \
	MOVOU X1, X3; PSLLDQ $4, X3; PXOR X3, X1; \
	MOVOU X1, X3; PSLLDQ $4, X3; PXOR X3, X1; \
	PXOR X2, X1

// STORE2 stores X1 twice at off(DI).
#define STORE2(reg, off) MOVOU reg, off(DI); MOVOU reg, off+16(DI)

// func expandKey128(key *byte, rk *[15][32]byte)
TEXT ·expandKey128(SB), NOSPLIT, $0-16
	MOVQ key+0(FP), SI
	MOVQ rk+8(FP), DI
	MOVOU (SI), X1
	STORE2(X1, 0)
	AESKEYGENASSIST $0x01, X1, X2; KEY128; STORE2(X1, 32)
	AESKEYGENASSIST $0x02, X1, X2; KEY128; STORE2(X1, 64)
	AESKEYGENASSIST $0x04, X1, X2; KEY128; STORE2(X1, 96)
	AESKEYGENASSIST $0x08, X1, X2; KEY128; STORE2(X1, 128)
	AESKEYGENASSIST $0x10, X1, X2; KEY128; STORE2(X1, 160)
	AESKEYGENASSIST $0x20, X1, X2; KEY128; STORE2(X1, 192)
	AESKEYGENASSIST $0x40, X1, X2; KEY128; STORE2(X1, 224)
	AESKEYGENASSIST $0x80, X1, X2; KEY128; STORE2(X1, 256)
	AESKEYGENASSIST $0x1b, X1, X2; KEY128; STORE2(X1, 288)
	AESKEYGENASSIST $0x36, X1, X2; KEY128; STORE2(X1, 320)
	RET

// KEY256A derives an even AES-256 round key into X1 (from X1 and
// AESKEYGENASSIST of X3 in X2); KEY256B an odd one into X3 (from X3 and
// AESKEYGENASSIST of X1 in X2). X4 is scratch.
#define KEY256A \
	PSHUFD $0xff, X2, X2; \
	MOVOU X1, X4; PSLLDQ $4, X4; PXOR X4, X1; \
	MOVOU X1, X4; PSLLDQ $4, X4; PXOR X4, X1; \
	MOVOU X1, X4; PSLLDQ $4, X4; PXOR X4, X1; \
	PXOR X2, X1

#define KEY256B \
	PSHUFD $0xaa, X2, X2; \
	MOVOU X3, X4; PSLLDQ $4, X4; PXOR X4, X3; \
	MOVOU X3, X4; PSLLDQ $4, X4; PXOR X4, X3; \
	MOVOU X3, X4; PSLLDQ $4, X4; PXOR X4, X3; \
	PXOR X2, X3

// func expandKey256(key *byte, rk *[15][32]byte)
TEXT ·expandKey256(SB), NOSPLIT, $0-16
	MOVQ key+0(FP), SI
	MOVQ rk+8(FP), DI
	MOVOU (SI), X1
	MOVOU 16(SI), X3
	STORE2(X1, 0)
	STORE2(X3, 32)
	AESKEYGENASSIST $0x01, X3, X2; KEY256A; STORE2(X1, 64)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 96)
	AESKEYGENASSIST $0x02, X3, X2; KEY256A; STORE2(X1, 128)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 160)
	AESKEYGENASSIST $0x04, X3, X2; KEY256A; STORE2(X1, 192)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 224)
	AESKEYGENASSIST $0x08, X3, X2; KEY256A; STORE2(X1, 256)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 288)
	AESKEYGENASSIST $0x10, X3, X2; KEY256A; STORE2(X1, 320)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 352)
	AESKEYGENASSIST $0x20, X3, X2; KEY256A; STORE2(X1, 384)
	AESKEYGENASSIST $0x00, X1, X2; KEY256B; STORE2(X3, 416)
	AESKEYGENASSIST $0x40, X3, X2; KEY256A; STORE2(X1, 448)
	RET

// ROUNDS1TO9 and ROUNDS10TO13 run those AES rounds on the register r
// with the round keys at AX (AES-128 ends with round 10, AES-256 with 14).
#define ROUNDS1TO9(r) \
	VAESENC 32(AX), r, r; VAESENC 64(AX), r, r; VAESENC 96(AX), r, r; \
	VAESENC 128(AX), r, r; VAESENC 160(AX), r, r; VAESENC 192(AX), r, r; \
	VAESENC 224(AX), r, r; VAESENC 256(AX), r, r; VAESENC 288(AX), r, r

#define ROUNDS10TO13(r) \
	VAESENC 320(AX), r, r; VAESENC 352(AX), r, r; VAESENC 384(AX), r, r; VAESENC 416(AX), r, r

// FOLD reduces the 256-bit product lo ^ mid<<64 ^ hi<<128 (mid the
// schoolbook middle) into dst in the GHASH domain (X14 holds the
// polynomial). t is scratch; lo, hi and mid are clobbered.
#define FOLD(lo, hi, mid, t, dst) \
	VPSLLDQ $8, mid, t; \
	VPSRLDQ $8, mid, mid; \
	VPXOR t, lo, lo; \
	VPXOR mid, hi, hi; \
	VPCLMULQDQ $0x01, lo, X14, t; \
	VPSHUFD $78, lo, lo; \
	VPXOR t, lo, lo; \
	VPCLMULQDQ $0x01, lo, X14, t; \
	VPSHUFD $78, lo, lo; \
	VPXOR t, lo, lo; \
	VPXOR hi, lo, dst

// GFMUL sets dst to a·b in the GHASH domain (xmm). t0-t3 are scratch;
// dst may be a.
#define GFMUL(a, b, dst, t0, t1, t2, t3) \
	VPCLMULQDQ $0x00, b, a, t0; \
	VPCLMULQDQ $0x11, b, a, t1; \
	VPCLMULQDQ $0x01, b, a, t2; \
	VPCLMULQDQ $0x10, b, a, t3; \
	VPXOR t3, t2, t2; \
	FOLD(t0, t1, t2, t3, dst)

// func initH(rk *[15][32]byte, nr int, htab *[32][16]byte)
// H = E(0); htab[16-k] = H^k (as H·x, byte-reversed), k = 1..16, and
// htab[32-k] its Karatsuba key (the XOR of its halves, in both).
TEXT ·initH(SB), NOSPLIT, $0-24
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), R9
	MOVQ htab+16(FP), DI
	VMOVDQU gcmPoly<>(SB), X14
	VMOVDQU bswapMask<>(SB), X15
	VPXOR X0, X0, X0
	VPXOR (AX), X0, X0
	ROUNDS1TO9(X0)
	CMPQ R9, $14
	JEQ  h256
	VAESENCLAST 320(AX), X0, X0
	JMP  hdone
h256:
	ROUNDS10TO13(X0)
	VAESENCLAST 448(AX), X0, X0
hdone:
	VPSHUFB X15, X0, X0
	// H·x: shift the 128-bit value left by one; if the top bit fell off,
	// add the polynomial.
	VPSHUFD $0xff, X0, X1
	VPSRAD  $31, X1, X1
	VPAND   X14, X1, X1
	VPSRLD  $31, X0, X2
	VPSLLDQ $4, X2, X2
	VPSLLD  $1, X0, X0
	VPXOR   X1, X0, X0
	VPXOR   X2, X0, X0
	VMOVDQU X0, 240(DI) // H^1
	VPSHUFD $78, X0, X1
	VPXOR   X0, X1, X1
	VMOVDQU X1, 496(DI) // its Karatsuba key
	VMOVDQA X0, X5
	MOVQ    $15, CX
	MOVQ    $224, BX
hloop:
	GFMUL(X5, X0, X5, X1, X2, X3, X4)
	VMOVDQU X5, (DI)(BX*1)
	VPSHUFD $78, X5, X1
	VPXOR   X5, X1, X1
	VMOVDQU X1, 256(DI)(BX*1)
	SUBQ    $16, BX
	DECQ    CX
	JNZ     hloop
	RET

// ROUNDS runs AES rounds 1 to nr-1 and the last round on the registers
// r0-r3 (Y or X), with the round keys at AX and nr in R9 (10 or 14).
#define AESROUND(off, r0, r1, r2, r3) \
	VMOVDQU off(AX), Y4; \
	VAESENC Y4, r0, r0; VAESENC Y4, r1, r1; VAESENC Y4, r2, r2; VAESENC Y4, r3, r3

#define AESLAST(off, r0, r1, r2, r3) \
	VMOVDQU off(AX), Y4; \
	VAESENCLAST Y4, r0, r0; VAESENCLAST Y4, r1, r1; VAESENCLAST Y4, r2, r2; VAESENCLAST Y4, r3, r3

// func ctrBlocks(rk *[15][32]byte, nr int, ctr *[16]byte, dst, src *byte, n int)
// XORs n blocks of src with the key stream starting at counter block ctr
// (inc32 semantics) into dst. dst and src may be the same.
TEXT ·ctrBlocks(SB), NOSPLIT, $0-48
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), R9
	MOVQ ctr+16(FP), BX
	MOVQ dst+24(FP), DI
	MOVQ src+32(FP), SI
	MOVQ n+40(FP), CX
	VMOVDQU bswapMask<>(SB), Y15
	VMOVDQU (BX), X12
	VPSHUFB X15, X12, X12
	VINSERTI128 $1, X12, Y12, Y12
	VPADDD  inc01<>(SB), Y12, Y12 // [c | c+1]
	VMOVDQU inc22<>(SB), Y13

loop8:
	CMPQ CX, $8
	JB   loop2
	VPADDD  Y13, Y12, Y1
	VPADDD  Y13, Y1, Y2
	VPADDD  Y13, Y2, Y3
	VPSHUFB Y15, Y12, Y0
	VPADDD  Y13, Y3, Y12
	VPSHUFB Y15, Y1, Y1
	VPSHUFB Y15, Y2, Y2
	VPSHUFB Y15, Y3, Y3
	VMOVDQU (AX), Y4
	VPXOR   Y4, Y0, Y0
	VPXOR   Y4, Y1, Y1
	VPXOR   Y4, Y2, Y2
	VPXOR   Y4, Y3, Y3
	AESROUND(32, Y0, Y1, Y2, Y3)
	AESROUND(64, Y0, Y1, Y2, Y3)
	AESROUND(96, Y0, Y1, Y2, Y3)
	AESROUND(128, Y0, Y1, Y2, Y3)
	AESROUND(160, Y0, Y1, Y2, Y3)
	AESROUND(192, Y0, Y1, Y2, Y3)
	AESROUND(224, Y0, Y1, Y2, Y3)
	AESROUND(256, Y0, Y1, Y2, Y3)
	AESROUND(288, Y0, Y1, Y2, Y3)
	CMPQ R9, $14
	JEQ  last8_256
	AESLAST(320, Y0, Y1, Y2, Y3)
	JMP  xor8
last8_256:
	AESROUND(320, Y0, Y1, Y2, Y3)
	AESROUND(352, Y0, Y1, Y2, Y3)
	AESROUND(384, Y0, Y1, Y2, Y3)
	AESROUND(416, Y0, Y1, Y2, Y3)
	AESLAST(448, Y0, Y1, Y2, Y3)
xor8:
	VPXOR   (SI), Y0, Y0
	VPXOR   32(SI), Y1, Y1
	VPXOR   64(SI), Y2, Y2
	VPXOR   96(SI), Y3, Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $8, CX
	JMP  loop8

loop2:
	// Two blocks at a time; a last single block runs in the low lane and
	// only its 16 bytes are read and written.
	TESTQ CX, CX
	JZ    done
	VPSHUFB Y15, Y12, Y0
	VPADDD  Y13, Y12, Y12
	VPXOR   (AX), Y0, Y0
	ROUNDS1TO9(Y0)
	CMPQ R9, $14
	JEQ  last2_256
	VAESENCLAST 320(AX), Y0, Y0
	JMP  xor2
last2_256:
	ROUNDS10TO13(Y0)
	VAESENCLAST 448(AX), Y0, Y0
xor2:
	CMPQ CX, $2
	JB   xor1
	VPXOR   (SI), Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $2, CX
	JMP  loop2
xor1:
	VPXOR   (SI), X0, X0
	VMOVDQU X0, (DI)
done:
	VZEROUPPER
	RET

// PMUL4 multiplies the two blocks of y by the two powers at off(DX)
// (Karatsuba: the XOR of each power's halves is at off+256(DX)) and adds
// the partial products to Y8 (low), Y9 (high) and Y10 (middle, before
// the low and high products are taken out of it).
#define PMUL4(y, off) \
	VMOVDQU off(DX), Y4; \
	VPCLMULQDQ $0x00, Y4, y, Y5; VPXOR Y5, Y8, Y8; \
	VPCLMULQDQ $0x11, Y4, y, Y6; VPXOR Y6, Y9, Y9; \
	VPSHUFD $78, y, Y7; VPXOR y, Y7, Y7; \
	VPCLMULQDQ $0x00, off+256(DX), Y7, Y7; VPXOR Y7, Y10, Y10

// REDUCE folds X8 (low), X9 (high), X10 (Karatsuba middle) into X13.
#define REDUCE \
	VPXOR X8, X10, X10; \
	VPXOR X9, X10, X10; \
	FOLD(X8, X9, X10, X5, X13)

// PAIR loads the two blocks at off(SI), byte-reverses them and
// multiplies them by the two powers at off(DX) into Y8-Y10.
#define PAIR(off) \
	VMOVDQU off(SI), Y0; \
	VPSHUFB Y15, Y0, Y0; \
	PMUL4(Y0, off)

// func ghashBlocks(htab *[32][16]byte, acc *[16]byte, src *byte, n int)
// Folds n blocks of src into the GHASH state acc (byte-reversed domain).
// Sixteen blocks are multiplied by H^16..H^1 and reduced once, so the
// dependency on acc costs one reduction per 256 bytes.
TEXT ·ghashBlocks(SB), NOSPLIT, $0-32
	MOVQ htab+0(FP), DX
	MOVQ acc+8(FP), BX
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	VMOVDQU bswapMask<>(SB), Y15
	VMOVDQU gcmPoly<>(SB), X14
	VMOVDQU (BX), X13 // upper lane zeroed

gloop16:
	CMPQ CX, $16
	JB   gtail
	VMOVDQU (SI), Y0
	VPSHUFB Y15, Y0, Y0
	VPXOR   Y13, Y0, Y0
	VPXOR   Y8, Y8, Y8
	VPXOR   Y9, Y9, Y9
	VPXOR   Y10, Y10, Y10
	PMUL4(Y0, 0)
	PAIR(32)
	PAIR(64)
	PAIR(96)
	PAIR(128)
	PAIR(160)
	PAIR(192)
	PAIR(224)
	VEXTRACTI128 $1, Y8, X5
	VPXOR X5, X8, X8
	VEXTRACTI128 $1, Y9, X5
	VPXOR X5, X9, X9
	VEXTRACTI128 $1, Y10, X5
	VPXOR X5, X10, X10
	REDUCE
	ADDQ $256, SI
	SUBQ $16, CX
	JMP  gloop16

gtail:
	TESTQ CX, CX
	JZ    gdone
	// r = CX blocks left (1..15): block j times H^(r-j), at htab[16-r+j].
	MOVQ  $16, AX
	SUBQ  CX, AX
	SHLQ  $4, AX
	ADDQ  AX, DX
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	CMPQ  CX, $2
	JB    gsingle
	VMOVDQU (SI), Y0
	VPSHUFB Y15, Y0, Y0
	VPXOR   Y13, Y0, Y0
	VPXOR   X13, X13, X13 // acc is in; the single block must not add it again
	JMP     gpair1
gpairnext:
	CMPQ CX, $2
	JB   gsingle
	VMOVDQU (SI), Y0
	VPSHUFB Y15, Y0, Y0
gpair1:
	PMUL4(Y0, 0)
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $2, CX
	JMP  gpairnext
gsingle:
	VEXTRACTI128 $1, Y8, X5
	VPXOR X5, X8, X8
	VEXTRACTI128 $1, Y9, X5
	VPXOR X5, X9, X9
	VEXTRACTI128 $1, Y10, X5
	VPXOR X5, X10, X10
	TESTQ CX, CX
	JZ    greduce
	VMOVDQU (SI), X0
	VPSHUFB X15, X0, X0
	VPXOR   X13, X0, X0
	VMOVDQU (DX), X4
	VPCLMULQDQ $0x00, X4, X0, X5; VPXOR X5, X8, X8
	VPCLMULQDQ $0x11, X4, X0, X6; VPXOR X6, X9, X9
	VPSHUFD $78, X0, X7; VPXOR X0, X7, X7
	VPCLMULQDQ $0x00, 256(DX), X7, X7; VPXOR X7, X10, X10
greduce:
	REDUCE

gdone:
	VMOVDQU X13, (BX)
	VZEROUPPER
	RET

// func encrypt2(rk *[15][32]byte, nr int, blocks *[32]byte)
// Encrypts the two blocks in place (one Y register).
TEXT ·encrypt2(SB), NOSPLIT, $0-24
	MOVQ rk+0(FP), AX
	MOVQ nr+8(FP), R9
	MOVQ blocks+16(FP), DI
	VMOVDQU (DI), Y0
	VPXOR   (AX), Y0, Y0
	ROUNDS1TO9(Y0)
	CMPQ R9, $14
	JEQ  e2_256
	VAESENCLAST 320(AX), Y0, Y0
	JMP  e2done
e2_256:
	ROUNDS10TO13(Y0)
	VAESENCLAST 448(AX), Y0, Y0
e2done:
	VMOVDQU Y0, (DI)
	VZEROUPPER
	RET

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET
