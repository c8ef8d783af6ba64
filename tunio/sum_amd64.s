//go:build !purego

#include "textflag.h"

// The ones'-complement sum of 16-bit words is, modulo 0xffff, the plain
// sum of any wider little-endian words of the same bytes (2^16 ≡ 1), so
// these add the 32-bit dwords of 32-byte blocks into 64-bit lanes: no
// carry is ever lost (a lane takes one dword per 32 bytes, 2^43 at most
// for 64 KiB) and the caller folds the exact total. Four accumulators
// keep the adds independent.

// SUMBLOCK adds the dwords of the Y register r into acc lo (even dwords)
// and acc hi (odd dwords); Y15 is zero, t is scratch.
#define SUMBLOCK(r, t, lo, hi) \
	VPSRLQ   $32, r, t; \
	VPBLENDD $0xaa, Y15, r, r; \
	VPADDQ   t, hi, hi; \
	VPADDQ   r, lo, lo

// ZEROACC clears the accumulators Y0-Y3 and Y15.
#define ZEROACC \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	VPXOR Y15, Y15, Y15

// REDUCE adds Y0-Y3's lanes into AX.
#define REDUCE \
	VPADDQ       Y2, Y0, Y0; \
	VPADDQ       Y3, Y1, Y1; \
	VPADDQ       Y1, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDQ       X1, X0, X0; \
	VPEXTRQ      $1, X0, BX; \
	VMOVQ        X0, AX; \
	ADDQ         BX, AX

// func sumBlocks(b *byte, n int) uint64
// Sums the first n&^31 bytes at b.
TEXT ·sumBlocks(SB), NOSPLIT, $0-24
	MOVQ  b+0(FP), SI
	MOVQ  n+8(FP), CX
	ANDQ  $~31, CX
	ZEROACC
	CMPQ  CX, $128
	JB    sum32

sum128:
	VMOVDQU 0(SI), Y4
	VMOVDQU 32(SI), Y5
	VMOVDQU 64(SI), Y6
	VMOVDQU 96(SI), Y7
	SUMBLOCK(Y4, Y8, Y0, Y1)
	SUMBLOCK(Y5, Y9, Y2, Y3)
	SUMBLOCK(Y6, Y10, Y0, Y1)
	SUMBLOCK(Y7, Y11, Y2, Y3)
	ADDQ    $128, SI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     sum128

sum32:
	CMPQ    CX, $32
	JB      sumdone
	VMOVDQU 0(SI), Y4
	SUMBLOCK(Y4, Y8, Y0, Y1)
	ADDQ    $32, SI
	SUBQ    $32, CX
	JMP     sum32

sumdone:
	REDUCE
	VZEROUPPER
	MOVQ AX, ret+16(FP)
	RET

// func copySumBlocks(dst, src *byte, n int) uint64
// Copies the first n&^31 bytes from src to dst and returns their sum as
// sumBlocks does. dst and src must not overlap.
TEXT ·copySumBlocks(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  n+16(FP), CX
	ANDQ  $~31, CX
	ZEROACC
	CMPQ  CX, $128
	JB    copy32

copy128:
	VMOVDQU 0(SI), Y4
	VMOVDQU 32(SI), Y5
	VMOVDQU 64(SI), Y6
	VMOVDQU 96(SI), Y7
	VMOVDQU Y4, 0(DI)
	VMOVDQU Y5, 32(DI)
	VMOVDQU Y6, 64(DI)
	VMOVDQU Y7, 96(DI)
	SUMBLOCK(Y4, Y8, Y0, Y1)
	SUMBLOCK(Y5, Y9, Y2, Y3)
	SUMBLOCK(Y6, Y10, Y0, Y1)
	SUMBLOCK(Y7, Y11, Y2, Y3)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     copy128

copy32:
	CMPQ    CX, $32
	JB      copydone
	VMOVDQU 0(SI), Y4
	VMOVDQU Y4, 0(DI)
	SUMBLOCK(Y4, Y8, Y0, Y1)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     copy32

copydone:
	REDUCE
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
