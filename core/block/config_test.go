package block

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		field   string // empty: valid
		wantErr bool
	}{
		{name: "default", cfg: DefaultConfig()},
		{name: "block count", cfg: Config{BlockSize: 16, NumBlocks: 8}},
		{name: "zero block size", cfg: Config{BlockSize: 0, NumBlocks: 8}, field: "BlockSize"},
		{name: "huge block size", cfg: Config{BlockSize: MaxBlockSize + 1, NumBlocks: 8}, field: "BlockSize"},
		{name: "negative blocks", cfg: Config{BlockSize: 16, NumBlocks: -1}, field: "NumBlocks"},
		{name: "no size at all", cfg: Config{BlockSize: 16}, field: "MemoryBudget"},
		{name: "slots overflow int32", cfg: Config{BlockSize: 1024, NumBlocks: 1 << 22}, field: "NumBlocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, "Config."+tt.field)
		})
	}
}

func TestConfigBlocks(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		bytesPerToken int64
		want          int
		wantErr       bool
	}{
		{name: "explicit count wins", cfg: Config{BlockSize: 16, NumBlocks: 7, MemoryBudget: 1 << 40}, bytesPerToken: 1, want: 7},
		// 1 MiB / (1024 B/token * 16 tokens) = 64 blocks.
		{name: "from budget", cfg: Config{BlockSize: 16, MemoryBudget: 1 << 20}, bytesPerToken: 1024, want: 64},
		// A remainder too small for a block is left unused.
		{name: "rounds down", cfg: Config{BlockSize: 16, MemoryBudget: 1<<20 + 16*1024 - 1}, bytesPerToken: 1024, want: 64},
		{name: "budget below one block", cfg: Config{BlockSize: 16, MemoryBudget: 100}, bytesPerToken: 1024, wantErr: true},
		{name: "zero bytes per token", cfg: Config{BlockSize: 16, MemoryBudget: 100}, bytesPerToken: 0, wantErr: true},
		{name: "invalid config", cfg: Config{BlockSize: 0, NumBlocks: 3}, bytesPerToken: 8, wantErr: true},
		// Slots must stay inside int32.
		{name: "capped", cfg: Config{BlockSize: 16, MemoryBudget: 1 << 40}, bytesPerToken: 1, want: (1<<31 - 1) / 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Blocks(tt.bytesPerToken)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNumBlocksFor(t *testing.T) {
	for _, tt := range []struct{ n, bs, want int }{
		{0, 16, 0}, {1, 16, 1}, {15, 16, 1}, {16, 16, 1}, {17, 16, 2}, {32, 16, 2}, {33, 16, 3}, {5, 1, 5},
	} {
		require.Equal(t, tt.want, NumBlocksFor(tt.n, tt.bs), "NumBlocksFor(%d, %d)", tt.n, tt.bs)
	}
}
