//go:build race

package sampler

// raceEnabled reports a -race build, which slows the statistical tests
// tenfold without checking anything they do not.
const raceEnabled = true
