package hub

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ProgressBar draws one line per downloading file on a terminal, redrawn in
// place with carriage returns:
//
//	model.safetensors [=========>          ]  47%  564.1 MB / 1.2 GB  81.3 MB/s
//
// Its Update method has the signature of Client.Progress. The package itself
// never writes to a terminal; a command passes a bar in when it wants one.
type ProgressBar struct {
	// MinSize hides files smaller than this many bytes (config files flash
	// by too fast to be worth a bar). Files of unknown size are shown.
	MinSize int64
	// Interval is the least time between redraws of a file's line.
	Interval time.Duration

	w   io.Writer
	now func() time.Time

	mu    sync.Mutex
	files map[string]*barState
}

type barState struct {
	start, last time.Time
	startBytes  int64 // resumed prefix, excluded from the speed
	finished    bool
}

// NewProgressBar returns a bar writing to w that shows files of 1 MB and
// more, redrawn at most ten times a second.
func NewProgressBar(w io.Writer) *ProgressBar {
	return &ProgressBar{MinSize: 1 << 20, Interval: 100 * time.Millisecond, w: w, now: time.Now, files: map[string]*barState{}}
}

// Update records that done of total bytes of file are downloaded (total -1
// when unknown) and redraws the line if enough time has passed, or the file
// is complete.
func (p *ProgressBar) Update(file string, done, total int64) {
	if total >= 0 && total < p.MinSize {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	st, ok := p.files[file]
	if !ok || (st.finished && done < total) {
		st = &barState{start: now, startBytes: done}
		p.files[file] = st
	}
	if st.finished {
		return
	}
	complete := total >= 0 && done >= total
	if ok && !complete && now.Sub(st.last) < p.Interval {
		return
	}
	st.last = now
	line := renderBar(file, done, total, speed(done-st.startBytes, now.Sub(st.start)))
	if complete {
		st.finished = true
		fmt.Fprintf(p.w, "\r%s\n", line)
		return
	}
	fmt.Fprintf(p.w, "\r%s", line)
}

func speed(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds()
}

// renderBar formats one progress line.
func renderBar(file string, done, total int64, bytesPerSec float64) string {
	const width = 20
	rate := ""
	if bytesPerSec > 0 {
		rate = "  " + humanBytes(int64(bytesPerSec)) + "/s"
	}
	if total <= 0 {
		return fmt.Sprintf("%s %s%s", file, humanBytes(done), rate)
	}
	frac := float64(done) / float64(total)
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("%s [%s] %3d%%  %s / %s%s", file, bar, int(frac*100), humanBytes(done), humanBytes(total), rate)
}

// humanBytes formats a byte count with decimal units, as download tools do.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
