package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		cfg   Config
		field string // empty: valid
	}{
		{name: "default", cfg: DefaultConfig()},
		{name: "priority", cfg: mod(func(c *Config) { c.Policy = Priority })},
		{name: "tight but valid", cfg: Config{MaxSeqs: 1, MaxBatchedTokens: 1, MaxModelLen: 1}},
		{name: "no sequences", cfg: mod(func(c *Config) { c.MaxSeqs = 0 }), field: "MaxSeqs"},
		{name: "budget below sequences", cfg: mod(func(c *Config) { c.MaxBatchedTokens = c.MaxSeqs - 1 }), field: "MaxBatchedTokens"},
		{name: "huge budget", cfg: mod(func(c *Config) { c.MaxBatchedTokens = 1<<30 + 1 }), field: "MaxBatchedTokens"},
		{name: "no context", cfg: mod(func(c *Config) { c.MaxModelLen = 0 }), field: "MaxModelLen"},
		{name: "unknown policy", cfg: mod(func(c *Config) { c.Policy = 7 }), field: "Policy"},
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
	_, err := New(Config{}, nil)
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = New(DefaultConfig(), nil)
	require.Error(t, err)
}

func TestPolicyString(t *testing.T) {
	require.Equal(t, "fcfs", FCFS.String())
	require.Equal(t, "priority", Priority.String())
	require.Equal(t, "Policy(9)", Policy(9).String())
}
