package main

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/stretchr/testify/require"
)

func TestKVCacheDTypeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want device.DType
		err  bool
	}{
		{"f32", device.F32, false}, {"float32", device.F32, false},
		{"bf16", device.BF16, false}, {"bfloat16", device.BF16, false},
		{"f16", device.F16, false}, {"fp16", device.F16, false},
		{"q8_0", 0, true}, {"", 0, true}, {"BF16", 0, true},
	} {
		var v kvCacheDType
		err := v.UnmarshalText([]byte(tc.in))
		if tc.err {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, v.DType())
		text, err := v.MarshalText()
		require.NoError(t, err)
		require.Equal(t, tc.want.String(), string(text))
	}
}
