package views

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/orch-fleet/orch/catalog"
	"github.com/orch-fleet/orch/engine"
)

// runJSON writes every event as a line of JSON (orch apply -json; the
// schema is in docs/cli.md) and notices as {"type":"notice",...}.
type runJSON struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *runJSON) Event(ev engine.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	fmt.Fprintf(j.w, "%s\n", b)
}

func (j *runJSON) Notice(msg string) {
	b, _ := json.Marshal(map[string]any{"type": "notice", "time": time.Now(), "message": msg})
	j.mu.Lock()
	defer j.mu.Unlock()
	fmt.Fprintf(j.w, "%s\n", b)
}

// Close does nothing: the JSON view draws nothing on its own.
func (j *runJSON) Close() {}

// Result does nothing: the events said it all.
func (j *runJSON) Result(*catalog.Catalog, *engine.Report) {}

var _ Run = (*runJSON)(nil)
