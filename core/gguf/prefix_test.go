package gguf

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParsePrefix reads each fixture's header from growing prefixes, as a
// browser does while the file downloads: every prefix shorter than the
// header asks for more, every longer one gives the header ParseHeader
// finds in the whole file.
func TestParsePrefix(t *testing.T) {
	for _, name := range []string{
		"qwen3-tiny/qwen3-tiny-f32.gguf",
		"qwen3-tiny-untied/qwen3-tiny-untied-q4_0.gguf",
		"qwen3-tiny-vocab/qwen3-tiny-vocab-q8_0.gguf",
	} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtureDir, name))
			require.NoError(t, err)
			want, err := ParseHeader(data)
			require.NoError(t, err)
			size := int64(len(data))
			// The header ends where the tensor infos end, just before the
			// data section's padding.
			var headerEnd int64
			var lens []int64
			for n := int64(0); n < want.DataOffset; n += max(1, want.DataOffset/97) {
				lens = append(lens, n)
			}
			for _, n := range append(lens, want.DataOffset) {
				f, err := ParsePrefix(data[:n], size)
				if err != nil {
					require.ErrorIs(t, err, ErrShortPrefix, "prefix %d", n)
					continue
				}
				if headerEnd == 0 {
					headerEnd = n
				}
				require.Equal(t, want.Tensors, f.Header().Tensors)
				require.Equal(t, want.DataOffset, f.Header().DataOffset)
				require.Equal(t, want.Metadata.Keys(), f.Metadata().Keys())
			}
			require.NotZero(t, headerEnd, "no prefix up to the data offset parsed")
			f, err := ParsePrefix(data[:want.DataOffset], size)
			require.NoError(t, err)
			require.Equal(t, size, f.Header().End(), "the fixtures end with their last tensor")
			_, err = f.Tensor(want.Tensors[0].Name)
			require.ErrorContains(t, err, "only the file's header was read")

			// The tensors are checked against the size given.
			_, err = ParsePrefix(data[:want.DataOffset], size-1)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, "runs past the end of the file")
			_, err = ParsePrefix(data, size-1)
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

// TestParsePrefixHostile: counts and lengths that the declared file could
// hold but the prefix cannot ask for more bytes instead of allocating, and
// ones the file cannot hold are malformed.
func TestParsePrefixHostile(t *testing.T) {
	head := func(nTensors, nKV uint64) []byte {
		b := []byte(Magic)
		b = binary.LittleEndian.AppendUint32(b, 3)
		b = binary.LittleEndian.AppendUint64(b, nTensors)
		return binary.LittleEndian.AppendUint64(b, nKV)
	}
	key := func(b []byte, keyLen uint64) []byte {
		// The key's first bytes follow, so that the prefix holds the
		// least a metadata entry takes.
		return append(binary.LittleEndian.AppendUint64(b, keyLen), "general."...)
	}
	tests := []struct {
		name   string
		prefix []byte
		size   int64
		want   error
	}{
		{"a billion tensors in a petabyte file", head(1<<30, 0), 1 << 50, ErrShortPrefix},
		{"a billion tensors in a small file", head(1<<30, 0), 4096, ErrInvalid},
		{"a 1 TB key in a petabyte file", key(head(0, 1), 1<<40), 1 << 50, ErrShortPrefix},
		{"a 1 TB key in a small file", key(head(0, 1), 1<<40), 4096, ErrInvalid},
		{"not GGUF", []byte("PK\x03\x04 a zip file"), 1 << 20, ErrInvalid},
		{"a prefix longer than the file", head(0, 0), 4, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePrefix(tc.prefix, tc.size)
			require.ErrorIs(t, err, tc.want)
			if tc.want == ErrInvalid {
				require.NotErrorIs(t, err, ErrShortPrefix)
			}
		})
	}
}
