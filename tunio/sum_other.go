//go:build !amd64 || purego

package tunio

// useBlocks is false: no block sums on this architecture or in a purego
// build; sum16 and copySum16 stay scalar.
var useBlocks = false

func sumBlocks(b *byte, n int) uint64 { panic("tunio: no block sums") }

func copySumBlocks(dst, src *byte, n int) uint64 { panic("tunio: no block sums") }
