package qwen3

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/stretchr/testify/require"
)

// TestDecodeReadBytes checks the weight byte counts against the checkpoint's
// own tensors: everything is read per decoded token except an untied
// embedding table.
func TestDecodeReadBytes(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		tied bool
	}{
		{"../../testdata/qwen3-tiny", true},
		{"../../testdata/qwen3-tiny-untied", false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			ckpt, err := safetensors.OpenDir(tc.dir)
			require.NoError(t, err)
			defer ckpt.Close()
			var all, embed int64
			for _, name := range ckpt.Names() {
				tensor, err := ckpt.Tensor(name)
				require.NoError(t, err)
				all += int64(len(tensor.Data))
				if name == "model.embed_tokens.weight" {
					embed = int64(len(tensor.Data))
				}
			}
			dev := cpu.New(cpu.Options{Threads: 1})
			defer dev.Close()
			m, err := Load(tc.dir, dev, Options{})
			require.NoError(t, err)
			defer m.Close()
			require.Equal(t, tc.tied, m.Config().TieWordEmbeddings)
			require.Equal(t, all, m.WeightBytes())
			if tc.tied {
				require.Equal(t, all, m.DecodeReadBytes())
			} else {
				require.Equal(t, all-embed, m.DecodeReadBytes())
			}
		})
	}
}
