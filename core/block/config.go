package block

import (
	"errors"
	"fmt"
)

// ErrOutOfBlocks reports that the pool has too few free blocks for a request.
var ErrOutOfBlocks = errors.New("out of KV cache blocks")

// ErrInvalidConfig reports a cache configuration that cannot work; the
// wrapping error names the field.
var ErrInvalidConfig = errors.New("invalid cache config")

// MaxBlockSize bounds BlockSize; larger blocks waste memory in the last,
// partly filled block of every sequence and defeat prefix sharing.
const MaxBlockSize = 1024

// Config sizes the KV cache.
type Config struct {
	// BlockSize is the number of tokens per block.
	BlockSize int
	// NumBlocks is the size of the pool. When it is zero the pool is sized
	// from MemoryBudget instead.
	NumBlocks int
	// MemoryBudget is the memory, in bytes, the KV cache may use when
	// NumBlocks is zero. How many blocks fit depends on the model; see
	// Config.Blocks.
	MemoryBudget int64
	// PrefixCaching lets sequences share the blocks of a common prefix.
	PrefixCaching bool
}

// DefaultConfig returns 16-token blocks, a 1 GiB budget and prefix caching.
func DefaultConfig() Config {
	return Config{BlockSize: 16, MemoryBudget: 1 << 30, PrefixCaching: true}
}

// Validate reports the first field that makes c unusable.
func (c Config) Validate() error {
	switch {
	case c.BlockSize <= 0 || c.BlockSize > MaxBlockSize:
		return fmt.Errorf("block: Config.BlockSize = %d, want 1..%d: %w", c.BlockSize, MaxBlockSize, ErrInvalidConfig)
	case c.NumBlocks < 0:
		return fmt.Errorf("block: Config.NumBlocks = %d, want >= 0: %w", c.NumBlocks, ErrInvalidConfig)
	case c.NumBlocks > maxNumBlocks:
		return fmt.Errorf("block: Config.NumBlocks = %d, want <= %d: %w", c.NumBlocks, maxNumBlocks, ErrInvalidConfig)
	case c.NumBlocks == 0 && c.MemoryBudget <= 0:
		return fmt.Errorf("block: Config.MemoryBudget = %d with NumBlocks = 0, want a positive budget or block count: %w", c.MemoryBudget, ErrInvalidConfig)
	case c.NumBlocks > 0 && int64(c.NumBlocks)*int64(c.BlockSize) > maxSlots:
		return fmt.Errorf("block: Config.NumBlocks = %d of %d tokens gives more than %d slots: %w", c.NumBlocks, c.BlockSize, int64(maxSlots), ErrInvalidConfig)
	}
	return nil
}

// maxNumBlocks and maxSlots keep block ids and slots inside int32, the type
// devices receive them in.
const (
	maxNumBlocks = 1<<31 - 1
	maxSlots     = 1<<31 - 1
)

// Blocks is the pool size c describes, given the KV-cache memory one token
// takes (for float32 caches: 2 * 4 * layers * kvHeads * headDim bytes).
func (c Config) Blocks(bytesPerToken int64) (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	if c.NumBlocks > 0 {
		return c.NumBlocks, nil
	}
	if bytesPerToken <= 0 {
		return 0, fmt.Errorf("block: %d bytes per token, want a positive size: %w", bytesPerToken, ErrInvalidConfig)
	}
	n := c.MemoryBudget / (bytesPerToken * int64(c.BlockSize))
	if n < 1 {
		return 0, fmt.Errorf("block: Config.MemoryBudget = %d bytes holds no block of %d tokens at %d bytes each: %w",
			c.MemoryBudget, c.BlockSize, bytesPerToken, ErrInvalidConfig)
	}
	if n*int64(c.BlockSize) > maxSlots {
		n = maxSlots / int64(c.BlockSize)
	}
	return int(n), nil
}

// NumBlocksFor is how many blocks hold n tokens: n/blockSize rounded up.
func NumBlocksFor(n, blockSize int) int {
	return (n + blockSize - 1) / blockSize
}
