package sequence

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusTransitions(t *testing.T) {
	all := []Status{Waiting, Running, Preempted, Finished}
	allowed := map[[2]Status]bool{
		{Waiting, Running}:    true,
		{Waiting, Finished}:   true,
		{Running, Preempted}:  true,
		{Running, Finished}:   true,
		{Preempted, Running}:  true,
		{Preempted, Finished}: true,
	}
	for _, from := range all {
		for _, to := range all {
			require.Equal(t, allowed[[2]Status{from, to}], from.CanBecome(to), "%s -> %s", from, to)
		}
	}
}

func TestSetStatus(t *testing.T) {
	tests := []struct {
		name  string
		path  []Status // statuses set in turn after New
		valid bool
	}{
		{"admit", []Status{Running}, true},
		{"preempt and readmit", []Status{Running, Preempted, Running, Preempted, Running}, true},
		{"preempt a waiting one", []Status{Preempted}, false},
		{"back to waiting", []Status{Running, Waiting}, false},
		{"same status", []Status{Waiting}, false},
		{"finish through SetStatus", []Status{Running, Finished}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(1, []int32{1, 2})
			var err error
			for _, st := range tt.path {
				if err = s.SetStatus(st); err != nil {
					break
				}
			}
			if tt.valid {
				require.NoError(t, err)
				require.Equal(t, tt.path[len(tt.path)-1], s.Status())
			} else {
				require.ErrorIs(t, err, ErrInvalidTransition)
			}
		})
	}
}

func TestFinish(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		before  []Status
		reason  FinishReason
		err     error
		wantErr bool
	}{
		{name: "stop while running", before: []Status{Running}, reason: Stop},
		{name: "abort while waiting", reason: Aborted, err: boom},
		{name: "error while preempted", before: []Status{Running, Preempted}, reason: Error, err: boom},
		{name: "no reason", before: []Status{Running}, reason: NotFinished, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(7, []int32{1})
			for _, st := range tt.before {
				require.NoError(t, s.SetStatus(st))
			}
			err := s.Finish(tt.reason, tt.err)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidTransition)
				require.False(t, s.IsFinished())
				return
			}
			require.NoError(t, err)
			require.True(t, s.IsFinished())
			require.Equal(t, Finished, s.Status())
			require.Equal(t, tt.reason, s.FinishReason())
			require.Equal(t, tt.err, s.Err())
			require.ErrorIs(t, s.Finish(Stop, nil), ErrInvalidTransition, "finished is final")
			require.ErrorIs(t, s.SetStatus(Running), ErrInvalidTransition, "finished is final")
			require.Equal(t, tt.reason, s.FinishReason(), "a second Finish changes nothing")
		})
	}
}

func TestTokens(t *testing.T) {
	prompt := []int32{10, 11, 12}
	s := New(3, prompt)
	prompt[0] = 99
	require.Equal(t, []int32{10, 11, 12}, s.Prompt(), "New copies the prompt")
	require.Equal(t, 3, s.Len())
	require.Empty(t, s.Output())
	require.Equal(t, int32(12), s.LastToken())
	require.Equal(t, 3, s.NumUncomputed())
	require.False(t, s.Arrival.IsZero())

	s.NumComputed = 3
	s.Append(20)
	s.Append(21)
	require.Equal(t, []int32{10, 11, 12}, s.Prompt())
	require.Equal(t, []int32{20, 21}, s.Output())
	require.Equal(t, 2, s.NumOutputTokens())
	require.Equal(t, int32(21), s.LastToken())
	require.Equal(t, 2, s.NumUncomputed())
}

func TestPreempt(t *testing.T) {
	s := New(1, []int32{1, 2, 3})
	require.ErrorIs(t, s.Preempt(), ErrInvalidTransition, "only running sequences are preempted")
	require.NoError(t, s.SetStatus(Running))
	s.NumComputed, s.NumCached = 3, 2
	s.Append(4)
	require.NoError(t, s.Preempt())
	require.Equal(t, Preempted, s.Status())
	require.Zero(t, s.NumComputed)
	require.Zero(t, s.NumCached)
	require.Equal(t, 4, s.NumUncomputed(), "prompt and output are recomputed")
	require.Equal(t, []int32{4}, s.Output(), "generated tokens are kept")
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{Waiting.String(), "waiting"},
		{Running.String(), "running"},
		{Preempted.String(), "preempted"},
		{Finished.String(), "finished"},
		{Status(9).String(), "Status(9)"},
		{Stop.String(), "stop"},
		{Length.String(), "length"},
		{StopString.String(), "stop_string"},
		{Aborted.String(), "aborted"},
		{Error.String(), "error"},
		{FinishReason(42).String(), "FinishReason(42)"},
		{New(5, []int32{1, 2}).String(), "seq 5 (waiting, 2+0 tokens, 0 computed)"},
	} {
		require.Equal(t, tt.want, tt.got)
	}
}
